/** Selecting the native `clicktrain` backend for the commands. */
import * as tf from '@tensorflow/tfjs-core';
import '../index';
import {info, setNumThreads} from '../index';
import {CliError, oneLine} from './errors';

/** Switches to the native backend (with `threads` if given); `fallbackToCpu` allows the JS cpu backend when it cannot load. */
export async function useNativeBackend(threads: number | null, fallbackToCpu = false): Promise<{backend: string; threads: number | null; isa?: string}> {
  try {
    const ok = await tf.setBackend('clicktrain');
    if (!ok) throw new Error('tf.setBackend returned false');
    await tf.ready();
  } catch (e) {
    if (!fallbackToCpu) {
      throw new CliError(`the native clicktrain backend cannot be loaded (${oneLine(e)}); build it with \`npm run build:native\``);
    }
    await tf.setBackend('cpu');
    return {backend: 'cpu', threads: null};
  }
  let n: number | null = null;
  try {
    n = threads !== null ? setNumThreads(threads) : info().threads;
  } catch (e) {
    throw new CliError(`cannot set --threads ${threads}: ${oneLine(e)}`);
  }
  let isa: string | undefined;
  try {
    isa = info().isa;
  } catch {
    isa = undefined;
  }
  return {backend: 'clicktrain', threads: n, isa};
}
