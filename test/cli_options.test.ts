import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {runCli} from '../src/cli/main';
import {parseSchedule, resolveTrainOptions} from '../src/cli/options';
import {encodeCifarRecords} from '../src/data';

async function cli(args: string[]): Promise<{code: number; out: string; err: string}> {
  let out = '';
  let err = '';
  const code = await runCli(args, {stdout: (s) => { out += s; }, stderr: (s) => { err += s; }});
  return {code, out, err};
}

function expectOneLineError(r: {code: number; err: string}, pattern: RegExp) {
  expect(r.code).not.toBe(0);
  const lines = r.err.trim().split('\n').filter((l) => !l.startsWith('(run with --help'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ct-cli-'));

test('no arguments: the Fashion-MNIST demo with all four phases', () => {
  const c = resolveTrainOptions({}, '/x');
  expect(c.demo).toBe(true);
  expect(c.model).toBe('fmnist-cnn');
  expect(c.dataset).toBe('fashion-mnist');
  expect(c.subset).toBeGreaterThan(0);
  expect(c.schedule.patternEpoch).toBeLessThan(c.schedule.softStartEpoch!);
  expect(c.schedule.softStartEpoch).toBeLessThan(c.schedule.hardPruneEpoch!);
  expect(c.schedule.hardPruneEpoch).toBeLessThan(c.epochs);
  expect(c.out.startsWith('/x/runs/')).toBe(true);
});

test('option values are checked up front with one-line messages', () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{epochs: '0'}, /invalid --epochs '0'/],
    [{epochs: '2.5'}, /--epochs/],
    [{batch: 'abc'}, /invalid --batch 'abc'/],
    [{targetCompression: '0.5'}, /--target-compression/],
    [{targetCompression: '1000'}, /impossible --target-compression 1000/],
    [{patternSize: '10'}, /--pattern-size '10': must be an integer in 1..9/],
    [{lambda: '-1'}, /--lambda/],
    [{model: 'resnet99'}, /unknown --model 'resnet99'/],
    [{dataset: 'mnist'}, /unknown --dataset 'mnist'/],
    [{model: 'vgg11', dataset: 'fashion-mnist'}, /needs 32x32 images/],
    [{dataset: 'cifar10'}, /--data DIR is required for cifar10/],
    [{subset: '10', batch: '64'}, /--subset 10 is smaller than --batch 64/],
    [{schedule: 'hard=1,soft=3'}, /impossible --schedule: hard \(1\) before soft \(3\)/],
    [{epochs: '5', schedule: 'pattern=7'}, /not below --epochs 5/],
    [{schedule: 'warmup=3'}, /invalid --schedule key 'warmup'/],
    [{fixedLibrary: 'fixed8', patternSize: '3'}, /pattern size 4/],
    [{threads: '0'}, /--threads/],
  ];
  for (const [raw, re] of bad) expect(() => resolveTrainOptions(raw)).toThrow(re);
  expect(parseSchedule('pattern=2,soft=3,hard=5,lr=4/6', 8)).toEqual({patternEpoch: 2, softStartEpoch: 3, hardPruneEpoch: 5, lrDecayEpochs: [4, 6]});
});

test('the CLI reports bad options as one line and a non-zero exit', async () => {
  expectOneLineError(await cli(['train', '--model', 'resnet99']), /resnet99/);
  expectOneLineError(await cli(['train', '--epochs', '-3']), /--epochs/);
  expectOneLineError(await cli(['train', '--frobnicate']), /unknown option '--frobnicate'/);
  expectOneLineError(await cli(['bench', 'nosuch']), /unknown bench suite 'nosuch'/);
  expectOneLineError(await cli(['inspect', '/nonexistent/folder']), /folder not found: \/nonexistent\/folder/);
  const help = await cli(['train', '--help']);
  expect(help.code).toBe(0);
  expect(help.out).toMatch(/--target-compression/);
  expect(help.out).toMatch(/--resume <dir>/);
});

test('an unwritable output folder is refused before training', async () => {
  const d = tmp();
  const file = path.join(d, 'a-file');
  fs.writeFileSync(file, 'x');
  expectOneLineError(await cli(['train', '--out', path.join(file, 'sub')]), /cannot write to output folder .*a-file\/sub: a parent is not a folder/);
});

describe('missing or corrupt data files', () => {
  const rec = 3073;
  function cifarDir(sizes: Record<string, number | Uint8Array>): string {
    const d = tmp();
    for (const [name, s] of Object.entries(sizes)) fs.writeFileSync(path.join(d, name), typeof s === 'number' ? new Uint8Array(s) : s);
    return d;
  }
  const good = () => encodeCifarRecords('cifar10', new Uint8Array(2 * 3072), [1, 2]);
  const names = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];

  test('missing folder and missing file', async () => {
    const out = tmp();
    expectOneLineError(await cli(['train', '--dataset', 'cifar10', '--data', '/nonexistent/cifar', '--out', out]), /data folder not found: \/nonexistent\/cifar/);
    const d = cifarDir(Object.fromEntries(names.slice(0, 4).map((n) => [n, good()])));
    expectOneLineError(await cli(['train', '--dataset', 'cifar10', '--data', d, '--out', out]), /file not found: .*data_batch_5\.bin/);
  });

  test('truncated record, empty file and bad label', async () => {
    const out = tmp();
    const files: Record<string, number | Uint8Array> = Object.fromEntries(names.map((n) => [n, good()]));
    files['data_batch_3.bin'] = rec * 2 - 100;
    expectOneLineError(await cli(['train', '--dataset', 'cifar10', '--data', cifarDir(files), '--out', out]),
        /truncated or corrupt: .*data_batch_3\.bin has 6046 bytes/);
    files['data_batch_3.bin'] = 0;
    expectOneLineError(await cli(['train', '--dataset', 'cifar10', '--data', cifarDir(files), '--out', out]), /empty: .*data_batch_3\.bin/);
    const badLabel = good();
    badLabel[rec] = 42;
    files['data_batch_3.bin'] = badLabel;
    expectOneLineError(await cli(['train', '--dataset', 'cifar10', '--data', cifarDir(files), '--out', out]), /data_batch_3\.bin record 1 has label 42/);
    // nothing was written: no checkpoint, no run file
    expect(fs.readdirSync(out)).toEqual([]);
  });

  test('corrupt Fashion-MNIST files', async () => {
    const out = tmp();
    const d = tmp();
    for (let c = 0; c < 10; c++) fs.writeFileSync(path.join(d, `${c}.json`), JSON.stringify({data: [[...new Array(784).fill(0)], [...new Array(784).fill(1)]]}));
    fs.writeFileSync(path.join(d, '0.json'), '{"data": [[1,2,3');
    expectOneLineError(await cli(['train', '--dataset', 'fashion-mnist', '--data', d, '--out', out]), /Fashion-MNIST file is corrupt: .*0\.json is not valid JSON/);
    fs.rmSync(path.join(d, '0.json'));
    expectOneLineError(await cli(['train', '--dataset', 'fashion-mnist', '--data', d, '--out', out]), /Fashion-MNIST file not found: .*0\.json/);
  });
});
