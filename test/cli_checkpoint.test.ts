import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {ensureWritableDir, writeDirAtomic, writeFileAtomic} from '../src/cli/atomic';
import {readRunFile, resumeConfig} from '../src/cli/train';
import {resolveTrainOptions} from '../src/cli/options';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ct-ckpt-'));

test('writeFileAtomic replaces the file whole and leaves no temporary files', () => {
  const d = tmp();
  const f = path.join(d, 'run.json');
  writeFileAtomic(f, 'old');
  writeFileAtomic(f, 'new contents');
  expect(fs.readFileSync(f, 'utf8')).toBe('new contents');
  expect(fs.readdirSync(d)).toEqual(['run.json']);
});

test('writeDirAtomic: a failure while writing keeps the previous checkpoint intact', async () => {
  const d = tmp();
  const ck = path.join(d, 'checkpoint');
  await writeDirAtomic(ck, (t) => {
    fs.writeFileSync(path.join(t, 'weights.bin'), 'epoch-1');
    fs.writeFileSync(path.join(t, 'trainer.json'), '{"epoch":1}');
  });
  await expect(writeDirAtomic(ck, (t) => {
    fs.writeFileSync(path.join(t, 'weights.bin'), 'epoch-2-half');
    throw new Error('disk full');
  })).rejects.toThrow('disk full');
  expect(fs.readFileSync(path.join(ck, 'weights.bin'), 'utf8')).toBe('epoch-1');
  expect(fs.readdirSync(d)).toEqual(['checkpoint']);
  await writeDirAtomic(ck, (t) => {
    fs.writeFileSync(path.join(t, 'weights.bin'), 'epoch-2');
    fs.writeFileSync(path.join(t, 'trainer.json'), '{"epoch":2}');
  });
  expect(fs.readFileSync(path.join(ck, 'weights.bin'), 'utf8')).toBe('epoch-2');
  expect(fs.readdirSync(ck).sort()).toEqual(['trainer.json', 'weights.bin']);
  expect(fs.readdirSync(d)).toEqual(['checkpoint']);
});

test('ensureWritableDir creates the folder or names the problem', () => {
  const d = tmp();
  ensureWritableDir(path.join(d, 'a', 'b'));
  expect(fs.statSync(path.join(d, 'a', 'b')).isDirectory()).toBe(true);
  fs.writeFileSync(path.join(d, 'f'), 'x');
  expect(() => ensureWritableDir(path.join(d, 'f'))).toThrow(/cannot write to output folder .*: exists and is not a folder/);
});

test('--resume reads the stored run and refuses changed training options', () => {
  const d = tmp();
  expect(() => readRunFile(d)).toThrow(/no run\.json there/);
  fs.writeFileSync(path.join(d, 'run.json'), '{"format": "clicktrain-run", ');
  expect(() => readRunFile(d)).toThrow(/run\.json is corrupt/);
  const cfg = resolveTrainOptions({epochs: '6', out: d});
  writeFileAtomic(path.join(d, 'run.json'), JSON.stringify({format: 'clicktrain-run', version: 1, config: cfg, startedAt: ''}));
  const r = resumeConfig(d, {resume: d, threads: '1', json: true});
  expect(r.epochs).toBe(6);
  expect(r.threads).toBe(1);
  expect(r.json).toBe(true);
  expect(r.out).toBe(path.resolve(d));
  expect(resumeConfig(d, {resume: d, epochs: '6'}).epochs).toBe(6);
  expect(() => resumeConfig(d, {resume: d, epochs: '9'})).toThrow(/option --epochs differs from the stored run/);
});
