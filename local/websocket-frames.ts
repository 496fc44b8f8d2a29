/**
 * Where WebSocket frames end in a byte stream (RFC 6455 §5.2), so the proxy can close a tunnel
 * cleanly: it stops forwarding the replica's bytes at a frame boundary and sends the client a
 * close frame of its own. A control frame may come between the fragments of a message (§5.4), so
 * any boundary will do. Only frame headers are read; payloads (compressed or not) pass untouched.
 */

/** Close code 1001: the endpoint is going away (RFC 6455 §7.4.1). */
export const WS_GOING_AWAY = 1001;

/** Tracks frame boundaries of one direction of a WebSocket stream. */
export class FrameCursor {
  /** Payload bytes left in the current frame. */
  private remaining = 0;
  /** Bytes of a frame header read so far (a header can be split across chunks). */
  private header: number[] = [];

  /** True between two frames. */
  atBoundary(): boolean {
    return this.remaining === 0 && this.header.length === 0;
  }

  /**
   * Reads `chunk`. With `stop`, returns the offset of the first frame boundary in it (0 when it
   * starts at one), leaving the cursor there; without, or when there is none, reads it all and
   * returns -1.
   */
  feed(chunk: Uint8Array, stop = false): number {
    let i = 0;
    while (i < chunk.length) {
      if (stop && this.atBoundary()) return i;
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.header.push(chunk[i++]);
      const need = headerLength(this.header);
      if (need !== undefined && this.header.length === need) {
        this.remaining = payloadLength(this.header);
        this.header = [];
      }
    }
    return stop && this.atBoundary() ? i : -1;
  }
}

/** The length of a frame header from its first bytes; undefined until the second byte is in. */
function headerLength(h: readonly number[]): number | undefined {
  if (h.length < 2) return undefined;
  const len7 = h[1] & 0x7f;
  const masked = (h[1] & 0x80) !== 0;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
}

function payloadLength(h: readonly number[]): number {
  const len7 = h[1] & 0x7f;
  if (len7 === 126) return (h[2] << 8) | h[3];
  if (len7 === 127) {
    let n = 0;
    for (let k = 2; k < 10; k++) n = n * 256 + h[k];
    return n;
  }
  return len7;
}

/** An unmasked close frame (a server's) with `code` and a short reason. */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason.slice(0, 120), 'utf8');
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x88; // FIN + opcode 8 (close)
  frame[1] = 2 + text.length;
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}
