/** Atomic file and folder writes: write under a temporary name, then rename into place. */
import * as fs from 'fs';
import * as path from 'path';
import {CliError, oneLine} from './errors';

let counter = 0;
function tmpName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Date.now()}-${counter++}`);
}

/** Writes `data` to `file` so that readers see either the old or the complete new contents. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = tmpName(file);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, {force: true});
    throw e;
  }
}

/**
 * Fills a temporary folder with `fill(tmpDir)` and renames it to `dir`, replacing
 * a previous `dir` only after the new one is complete. If `fill` throws, `dir` is
 * left as it was and the temporary folder is removed.
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  const tmp = tmpName(dir);
  fs.mkdirSync(tmp, {recursive: true});
  try {
    await fill(tmp);
  } catch (e) {
    fs.rmSync(tmp, {recursive: true, force: true});
    throw e;
  }
  const old = tmpName(`${dir}.old`);
  const hadOld = fs.existsSync(dir);
  if (hadOld) fs.renameSync(dir, old);
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    if (hadOld) fs.renameSync(old, dir);
    fs.rmSync(tmp, {recursive: true, force: true});
    throw e;
  }
  if (hadOld) fs.rmSync(old, {recursive: true, force: true});
}

/** Creates `dir` (and parents) and checks that files can be written in it; throws a one-line CliError. */
export function ensureWritableDir(dir: string, what = 'output folder'): void {
  try {
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new Error('exists and is not a folder');
    fs.mkdirSync(dir, {recursive: true});
    const probe = path.join(dir, `.write-test-${process.pid}`);
    fs.writeFileSync(probe, 'ok');
    fs.rmSync(probe, {force: true});
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOTDIR' ? 'a parent is not a folder' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' :
      code === 'EROFS' ? 'read-only file system' : oneLine(e);
    throw new CliError(`cannot write to ${what} ${dir}: ${why}`);
  }
}
