// The espeak-ng WASM package ships no types: an Emscripten module factory with a virtual FS.
declare module "espeak-ng" {
  const ESpeakNg: (options: { arguments: string[] }) => Promise<{ FS: { readFile(path: string): Uint8Array } }>;
  export default ESpeakNg;
}
