/*
 * libsrtp 3 API on top of libsrtp 2.5 (Huddle's offline mediasoup build, docs/building.md).
 *
 * mediasoup >= 0.16 (worker 3.14+) is written against versatica's libsrtp 3.0 fork, whose
 * protect/unprotect functions take size_t lengths and separate input and output buffers.
 * This header includes libsrtp 2.5's srtp.h and maps the four calls that changed onto
 * wrappers (srtp3_compat.c), and srtp_stream_remove onto its 2.5 name srtp_remove_stream.
 * It covers exactly what the worker uses; it is not a general libsrtp 3 implementation.
 */
#ifndef HUDDLE_SRTP3_COMPAT_H
#define HUDDLE_SRTP3_COMPAT_H

#include_next <srtp.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes added in libsrtp 3 (same values as upstream libsrtp 3). */
#define srtp_err_status_buffer_small ((srtp_err_status_t)28)
#define srtp_err_status_cryptex_err ((srtp_err_status_t)29)

/* `*srtp_len` is the capacity of `srtp` on input and the SRTP packet length on output. */
srtp_err_status_t srtp3_compat_protect(srtp_t ctx, const uint8_t *rtp, size_t rtp_len,
                                       uint8_t *srtp, size_t *srtp_len, size_t mki_index);
/* `*rtp_len` is the capacity of `rtp` on input and the RTP packet length on output. */
srtp_err_status_t srtp3_compat_unprotect(srtp_t ctx, const uint8_t *srtp, size_t srtp_len,
                                         uint8_t *rtp, size_t *rtp_len);
srtp_err_status_t srtp3_compat_protect_rtcp(srtp_t ctx, const uint8_t *rtcp, size_t rtcp_len,
                                            uint8_t *srtcp, size_t *srtcp_len,
                                            size_t mki_index);
srtp_err_status_t srtp3_compat_unprotect_rtcp(srtp_t ctx, const uint8_t *srtcp,
                                              size_t srtcp_len, uint8_t *rtcp,
                                              size_t *rtcp_len);

#ifdef __cplusplus
}
#endif

/* Only code that includes this header sees the libsrtp 3 signatures. */
#ifndef SRTP3_COMPAT_IMPLEMENTATION
#define srtp_protect srtp3_compat_protect
#define srtp_unprotect srtp3_compat_unprotect
#define srtp_protect_rtcp srtp3_compat_protect_rtcp
#define srtp_unprotect_rtcp srtp3_compat_unprotect_rtcp
#endif

/* Renamed in libsrtp 3; same signature. */
#define srtp_stream_remove srtp_remove_stream

#endif /* HUDDLE_SRTP3_COMPAT_H */
