/** Opens the training and test data for `clicktrain train` (errors are one line naming the file). */
import * as fs from 'fs';
import type {ImageSource} from '../data/images';
import {batchSource} from '../data/images';
import {openCifar, CifarDataset} from '../data/cifar';
import {loadFashionMnist} from '../data/fashion_mnist';
import {CliError, oneLine} from './errors';
import type {TrainConfig} from './options';

export interface CliData {
  train: ImageSource;
  test: ImageSource;
  trainSource: ReturnType<typeof batchSource>;
  testSource: ReturnType<typeof batchSource>;
  trainSize: number;
  testSize: number;
  describe: string;
  close(): void;
}

function checkDir(dir: string): void {
  if (!fs.existsSync(dir)) throw new CliError(`data folder not found: ${dir}`);
  if (!fs.statSync(dir).isDirectory()) throw new CliError(`--data must be a folder: ${dir}`);
}

/** Opens (and checks) the data set named by the config. */
export function openData(cfg: Pick<TrainConfig, 'dataset' | 'data' | 'subset' | 'testSubset' | 'batch' | 'augment' | 'seed'>): CliData {
  let train: ImageSource;
  let test: ImageSource;
  const closers: (() => void)[] = [];
  try {
    if (cfg.dataset === 'fashion-mnist') {
      if (cfg.data) checkDir(cfg.data);
      const dir = cfg.data ?? undefined;
      train = loadFashionMnist({dir, split: 'train', maxPerClass: cfg.subset ? Math.ceil(cfg.subset / 10) : undefined});
      test = loadFashionMnist({dir, split: 'test', maxPerClass: cfg.testSubset ? Math.ceil(cfg.testSubset / 10) : undefined});
    } else {
      checkDir(cfg.data!);
      const variant = cfg.dataset;
      const tr: CifarDataset = openCifar({dir: cfg.data!, variant, split: 'train'});
      closers.push(() => tr.close());
      const te: CifarDataset = openCifar({dir: cfg.data!, variant, split: 'test'});
      closers.push(() => te.close());
      train = tr;
      test = te;
    }
  } catch (e) {
    for (const c of closers) c();
    if (e instanceof CliError) throw e;
    throw new CliError(oneLine(e));
  }
  if (cfg.subset !== null && cfg.subset > train.size) {
    for (const c of closers) c();
    throw new CliError(`--subset ${cfg.subset} is larger than the ${train.size} training images of ${cfg.dataset}`);
  }
  const trainSource = batchSource(train, {batchSize: cfg.batch, shuffle: true, augment: cfg.augment, seed: cfg.seed, limit: cfg.subset ?? undefined});
  const testSource = batchSource(test, {batchSize: Math.max(cfg.batch, 256), shuffle: false, limit: cfg.testSubset ?? undefined});
  return {
    train, test, trainSource, testSource, trainSize: trainSource.size, testSize: testSource.size,
    describe: `${cfg.dataset}: ${trainSource.size} training images${cfg.subset ? ' (subset)' : ''}, ${testSource.size} test images, ${train.height}x${train.width}x${train.channels}, ${train.numClasses} classes`,
    close: () => closers.forEach((c) => c()),
  };
}
