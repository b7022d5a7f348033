// Socket.IO connection and the ack-as-promise helper of the protocol guide.
import { io } from 'socket.io-client';

/** Connects to the page's origin; `token` (a JWT) goes into the handshake's `auth.token`. */
export function connect(token) {
  return io(location.origin, {
    auth: token ? { token } : undefined,
    reconnectionDelayMax: 5000,
  });
}

/**
 * `socket.emit(event, data, ack)` as a promise: resolves with the ack, rejects on
 * `{ error }` or when no ack arrives in time.
 */
export function request(socket, event, data = {}, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, data, (err, res) => {
      if (err) reject(new Error(`${event}: no answer from the server`));
      else if (res && res.error) reject(new Error(`${event}: ${res.error}`));
      else resolve(res);
    });
  });
}

/** The `sub` claim of a JWT (no verification: the server does that). */
export function tokenSubject(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const sub = JSON.parse(atob(payload)).sub;
    return sub == null ? null : String(sub);
  } catch {
    return null;
  }
}
