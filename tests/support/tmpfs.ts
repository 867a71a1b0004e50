import { afterAll } from "bun:test";
import { mkdirSync } from "node:fs";

/**
 * Mounts a tmpfs of `sizeBytes` at `dir` (created when absent) and unmounts it when the file's
 * tests end. The chaos tests run as root, here and in CI: a refused mount is a failure, never a skip.
 */
export async function mountTmpfs(dir: string, sizeBytes: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const mount = Bun.spawn(["mount", "-t", "tmpfs", "-o", `size=${sizeBytes},mode=0777`, "tmpfs", dir], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const code = await mount.exited;
  if (code !== 0) {
    const why = (await new Response(mount.stderr).text()).trim();
    throw new Error(
      `mount -t tmpfs at ${dir} was refused (exit ${code}: ${why}); the storage-full chaos test needs root (uid ${process.getuid?.()})`,
    );
  }
  afterAll(async () => {
    await Bun.spawn(["umount", "-l", dir]).exited;
  });
}
