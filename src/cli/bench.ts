/** `clicktrain bench [suite]`: runs bench/benchmark.js from the package root. */
import {spawn} from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import {CliError} from './errors';

export const BENCH_SUITES = ['kernels', 'train', 'sparse', 'e2e', 'all'] as const;

/** The package root (the folder whose package.json is named clicktrain). */
export function packageRoot(from = __dirname): string {
  let d = from;
  for (;;) {
    const pj = path.join(d, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as {name?: string}).name === 'clicktrain') return d;
      } catch {
        // keep looking
      }
    }
    const up = path.dirname(d);
    if (up === d) throw new CliError('cannot find the clicktrain package root');
    d = up;
  }
}

export interface BenchOptions {
  quick?: boolean;
  threads?: string;
  noCpu?: boolean;
  /** Extra arguments passed to the suite (e.g. e2e --subset/--epochs/--data). */
  extra?: string[];
}

/** The benchmark.js argument list for a suite. */
export function benchArgs(suite: string, o: BenchOptions): string[] {
  if (!(BENCH_SUITES as readonly string[]).includes(suite)) throw new CliError(`unknown bench suite '${suite}' (available: ${BENCH_SUITES.join(', ')})`);
  const args = [suite];
  if (o.quick) args.push('--quick');
  if (o.noCpu) args.push('--no-cpu');
  if (o.threads !== undefined) {
    const n = Number(o.threads);
    if (!Number.isInteger(n) || n < 1) throw new CliError(`invalid --threads '${o.threads}': must be a positive integer`);
    args.push('--threads', String(n));
  }
  return args.concat(o.extra ?? []);
}

/** Spawns the bench suite with inherited stdio; resolves to its exit code. */
export function benchCommand(suite: string, o: BenchOptions): Promise<number> {
  let args = benchArgs(suite, o);
  const root = packageRoot();
  // e2e takes its own sizing options (--subset, --epochs, --data, ...): run its script directly
  const direct = suite === 'e2e' && (o.extra ?? []).length > 0;
  if (direct) args = args.slice(1);
  const script = path.join(root, 'bench', direct ? 'e2e.js' : 'benchmark.js');
  if (!fs.existsSync(script)) throw new CliError(`bench script not found: ${script} (the bench suites ship with the source checkout)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {cwd: root, stdio: 'inherit'});
    const forward = () => child.kill('SIGINT');
    process.on('SIGINT', forward);
    child.on('error', (e) => {
      process.removeListener('SIGINT', forward);
      reject(new CliError(`cannot run ${script}: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      process.removeListener('SIGINT', forward);
      resolve(code ?? (signal ? 130 : 1));
    });
  });
}
