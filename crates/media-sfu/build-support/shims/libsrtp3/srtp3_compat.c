/*
 * libsrtp 3 protect/unprotect calls on top of libsrtp 2.5 (see include/srtp.h).
 *
 * libsrtp 2.5 works in place on an int length and assumes the buffer has room for the
 * trailer; libsrtp 3 reads from one buffer, writes to another of a given capacity and
 * reports srtp_err_status_buffer_small when it is too small. The wrappers check the
 * capacity, copy the input into the output buffer (memmove: the worker decrypts in place)
 * and run libsrtp 2.5 in place there.
 */
#define SRTP3_COMPAT_IMPLEMENTATION 1
#include "srtp.h"

#include <limits.h>
#include <string.h>

/* libsrtp 2.5 writes at most this much after an RTP packet (tag + MKI) ... */
#define RTP_EXTRA ((size_t)SRTP_MAX_TRAILER_LEN)
/* ... and after an RTCP packet also the 4-byte SRTCP index (see srtp_protect_rtcp). */
#define RTCP_EXTRA ((size_t)SRTP_MAX_TRAILER_LEN + 4u)

static srtp_err_status_t prepare(const uint8_t *in, size_t in_len, uint8_t *out,
                                 size_t out_cap, size_t extra, int *len)
{
    if (in == NULL || out == NULL)
        return srtp_err_status_bad_param;
    if (in_len > (size_t)INT_MAX - extra)
        return srtp_err_status_bad_param;
    if (out_cap < in_len + extra)
        return srtp_err_status_buffer_small;
    if (out != in)
        memmove(out, in, in_len);
    *len = (int)in_len;
    return srtp_err_status_ok;
}

/* Stores the new length on success. Takes `len` by pointer and is called after libsrtp in a
 * statement of its own: an argument `len` next to the libsrtp call would be read in
 * unspecified order, possibly before libsrtp updated it. */
static srtp_err_status_t finish(srtp_err_status_t status, const int *len, size_t *out_len)
{
    if (status == srtp_err_status_ok)
        *out_len = (size_t)*len;
    return status;
}

srtp_err_status_t srtp3_compat_protect(srtp_t ctx, const uint8_t *rtp, size_t rtp_len,
                                       uint8_t *srtp, size_t *srtp_len, size_t mki_index)
{
    int len;
    srtp_err_status_t status;
    if (srtp_len == NULL || mki_index > UINT_MAX)
        return srtp_err_status_bad_param;
    status = prepare(rtp, rtp_len, srtp, *srtp_len, RTP_EXTRA, &len);
    if (status != srtp_err_status_ok)
        return status;
    /* use_mki = 0: mediasoup sets up no MKI, libsrtp then ignores mki_index (as libsrtp 3). */
    status = srtp_protect_mki(ctx, srtp, &len, 0, (unsigned int)mki_index);
    return finish(status, &len, srtp_len);
}

srtp_err_status_t srtp3_compat_unprotect(srtp_t ctx, const uint8_t *srtp, size_t srtp_len,
                                         uint8_t *rtp, size_t *rtp_len)
{
    int len;
    srtp_err_status_t status;
    if (rtp_len == NULL)
        return srtp_err_status_bad_param;
    status = prepare(srtp, srtp_len, rtp, *rtp_len, 0, &len);
    if (status != srtp_err_status_ok)
        return status;
    status = srtp_unprotect(ctx, rtp, &len);
    return finish(status, &len, rtp_len);
}

srtp_err_status_t srtp3_compat_protect_rtcp(srtp_t ctx, const uint8_t *rtcp, size_t rtcp_len,
                                            uint8_t *srtcp, size_t *srtcp_len,
                                            size_t mki_index)
{
    int len;
    srtp_err_status_t status;
    if (srtcp_len == NULL || mki_index > UINT_MAX)
        return srtp_err_status_bad_param;
    status = prepare(rtcp, rtcp_len, srtcp, *srtcp_len, RTCP_EXTRA, &len);
    if (status != srtp_err_status_ok)
        return status;
    status = srtp_protect_rtcp_mki(ctx, srtcp, &len, 0, (unsigned int)mki_index);
    return finish(status, &len, srtcp_len);
}

srtp_err_status_t srtp3_compat_unprotect_rtcp(srtp_t ctx, const uint8_t *srtcp,
                                              size_t srtcp_len, uint8_t *rtcp,
                                              size_t *rtcp_len)
{
    int len;
    srtp_err_status_t status;
    if (rtcp_len == NULL)
        return srtp_err_status_bad_param;
    status = prepare(srtcp, srtcp_len, rtcp, *rtcp_len, 0, &len);
    if (status != srtp_err_status_ok)
        return status;
    status = srtp_unprotect_rtcp(ctx, rtcp, &len);
    return finish(status, &len, rtcp_len);
}
