/** The 44-byte header of a 16-bit PCM WAV holding `dataBytes` of samples. */
export function wavHeader(dataBytes: number, sampleRate: number, channels: 1 | 2): Uint8Array {
  const view = new DataView(new ArrayBuffer(44));
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * channels * 2, true);
  view.setUint16(32, channels * 2, true);
  view.setUint16(34, 16, true);
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  return new Uint8Array(view.buffer);
}

/** 16-bit PCM WAV from float samples in [-1, 1], interleaved when stereo. */
export function encodeWav(samples: Float32Array, sampleRate: number, channels: 1 | 2): Uint8Array {
  const dataBytes = samples.length * 2;
  const buffer = new ArrayBuffer(44 + dataBytes);
  const view = new DataView(buffer);
  new Uint8Array(buffer).set(wavHeader(dataBytes, sampleRate, channels));
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]!));
    view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Uint8Array(buffer);
}

/** The samples of a 16-bit mono WAV and their rate. */
export interface Pcm {
  rate: number;
  samples: Int16Array;
}

/** The PCM of a 16-bit mono WAV, found by walking its chunks. */
export function readWav(bytes: Uint8Array): Pcm {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let rate = 0;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = String.fromCharCode(...bytes.subarray(at, at + 4));
    const size = view.getUint32(at + 4, true);
    if (id === "fmt ") rate = view.getUint32(at + 12, true);
    if (id === "data") {
      const end = Math.min(bytes.length, at + 8 + size);
      return { rate, samples: new Int16Array(bytes.slice(at + 8, end - ((end - at - 8) % 2)).buffer) };
    }
    at += 8 + size + (size % 2);
  }
  throw new Error("the WAV has no audio (no data chunk)");
}
