#!/usr/bin/env node
/**
 * The `clicktrain` command: `train` (ClickTrain training with checkpoints, resume and a
 * report), `bench` (the bench suites), `inspect` (a saved model's layout, library and
 * compression). Errors are one line on stderr with a non-zero exit, never a stack trace.
 */
import {Command, CommanderError, Option} from 'commander';
import {benchCommand, BENCH_SUITES} from './bench';
import {CliError, oneLine} from './errors';
import {formatInspection, inspectDir} from './inspect';
import {CLI_DATASETS, CLI_MODELS, DEMO_DEFAULTS, FIXED_LIBRARIES, LR_SCHEDULES, OPTIMIZERS, RawTrainOptions} from './options';
import {Out} from './progress';

const VERSION = (() => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require(require('path').join(require('./bench').packageRoot(), 'package.json')) as {version: string}).version;
  } catch {
    return '0.0.0';
  }
})();

const TRAIN_HELP = `
With no options, runs a short demo: ${DEMO_DEFAULTS.model} on a ${DEMO_DEFAULTS.subset}-image Fashion-MNIST subset
for ${DEMO_DEFAULTS.epochs} epochs (dense warm-up, patterns, group-lasso soft phase, hard prune), then writes
a report. --schedule takes 0-based epochs, e.g. pattern=10,soft=12,hard=22,lr=9/20 (default: the
reference schedule scaled to --epochs). Ctrl-C saves a checkpoint; --resume DIR continues it.

Examples:
  clicktrain train
  clicktrain train --model resnet20 --dataset cifar10 --data ../shared/data/cifar-10-batches-bin \\
      --epochs 30 --batch 128 --target-compression 8 --out runs/r20
  clicktrain train --resume runs/r20`;

/** Builds the program; `out` receives command output and `setCode` the exit code. */
export function buildProgram(out: Out, setCode: (c: number) => void): Command {
  const program = new Command('clicktrain')
      .description('Fast CNN training in TensorFlow.js by pattern-based pruning while training (ClickTrain)')
      .version(VERSION)
      .showHelpAfterError('(run with --help for usage)')
      .configureOutput({writeOut: out.stdout, writeErr: out.stderr})
      .exitOverride();

  program.command('train')
      .description('train a CNN with ClickTrain (no options: a short Fashion-MNIST demo)')
      .addOption(new Option('--model <name>', 'model').choices(CLI_MODELS as unknown as string[]))
      .addOption(new Option('--dataset <name>', 'data set').choices(CLI_DATASETS as unknown as string[]))
      .option('--data <dir>', 'data folder (CIFAR binary files; Fashion-MNIST: default the fashion-mnist package)')
      .option('--epochs <n>', 'training epochs (default 30; demo 8)')
      .option('--batch <n>', 'mini-batch size (default 128; demo 64)')
      .option('--target-compression <x>', '3x3 conv compression target, dense/kept weights (default 8)')
      .option('--patterns <k>', 'pattern library size K (default 8)')
      .option('--pattern-size <n>', 'kept weights per kernel, 1..9 (default 4)')
      .option('--importance-window <n>', 'mini-batches over which importance is accumulated (default 20; demo 8)')
      .option('--lambda <x>', 'group-lasso strength (default 2e-4)')
      .option('--schedule <spec>', 'phase epochs, e.g. pattern=10,soft=12,hard=22,lr=9/20')
      .addOption(new Option('--library-scope <scope>', 'one library for the model or per layer').choices(['model', 'layer']))
      .addOption(new Option('--fixed-library <name>', 'use a fixed library instead of generating one').choices(FIXED_LIBRARIES as unknown as string[]))
      .addOption(new Option('--optimizer <name>', 'optimiser (default momentum)').choices(OPTIMIZERS as unknown as string[]))
      .option('--lr <x>', 'base learning rate (default 0.1; demo 0.05)')
      .addOption(new Option('--lr-schedule <name>', 'learning-rate schedule (default step)').choices(LR_SCHEDULES as unknown as string[]))
      .option('--weight-decay <x>', 'L2 weight decay (default 5e-4 on CIFAR, 0 on Fashion-MNIST)')
      .option('--label-smoothing <x>', 'label smoothing in [0, 1) (default 0)')
      .option('--no-augment', 'no random crop/flip (default on for CIFAR)')
      .option('--subset <n>', 'train on the first N training images')
      .option('--test-subset <n>', 'evaluate on the first N test images')
      .option('--seed <n>', 'seed for initialisation, data order and augmentation (default 0)')
      .option('--threads <n>', 'native backend threads (default: all cores)')
      .option('--out <dir>', 'output folder (default runs/<model>-<dataset>-<time>)')
      .option('--resume <dir>', 'continue the run saved in DIR')
      .option('--json', 'machine-readable JSON lines on stdout')
      .addOption(new Option('--progress <mode>', 'progress display').choices(['auto', 'bar', 'plain']))
      .option('--no-sparse-kernels', 'keep masks on dense kernels (no pattern-sparse kernels)')
      .addHelpText('after', TRAIN_HELP)
      .action(async (opts: Record<string, unknown>, cmd: Command) => {
        const raw: RawTrainOptions = {};
        for (const [k, v] of Object.entries(opts)) {
          // commander fills defaults for --no-* flags; keep only what the user gave
          if (cmd.getOptionValueSource(k) === 'cli' || cmd.getOptionValueSource(k) === 'env') raw[k] = v as string | boolean;
        }
        const {trainCommand} = await import('./train');
        setCode(await trainCommand(raw, out));
      });

  program.command('bench')
      .description('run bench suites (bench/benchmark.js) from the package root')
      .argument('[suite]', `suite: ${BENCH_SUITES.join(', ')}`, 'kernels')
      .argument('[args...]', 'extra arguments for the suite (e2e: --subset N --epochs N --data DIR --model NAME)')
      .option('--quick', 'short run for smoke testing')
      .option('--threads <n>', 'native backend threads')
      .option('--no-cpu', 'skip the slow tfjs-backend-cpu comparison')
      .allowUnknownOption(true)
      .action(async (suite: string, args: string[], opts: {quick?: boolean; threads?: string; cpu?: boolean}) => {
        setCode(await benchCommand(suite, {quick: opts.quick, threads: opts.threads, noCpu: opts.cpu === false, extra: args}));
      });

  program.command('inspect')
      .description("print a saved model's per-layer layout, pattern library (3x3 grids) and compression")
      .argument('<dir>', 'a clicktrain train output folder, or a folder with compact.json or model.json')
      .option('--json', 'print the inspection as JSON')
      .action(async (dir: string, opts: {json?: boolean}) => {
        const {useNativeBackend} = await import('./backend');
        await useNativeBackend(null, true);
        const r = await inspectDir(dir);
        out.stdout((opts.json ? JSON.stringify(r, null, 1) : formatInspection(r)) + '\n');
        setCode(0);
      });
  return program;
}

/** Runs the CLI on `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: string[], out: Out = {
  stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s),
}): Promise<number> {
  let code = 0;
  const program = buildProgram(out, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, {from: 'user'});
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help/version exit 0; usage errors were already printed by commander as one line
      return e.exitCode;
    }
    out.stderr(`clicktrain: error: ${oneLine(e)}\n`);
    if (process.env.CLICKTRAIN_DEBUG && e instanceof Error && !(e instanceof CliError)) out.stderr(`${e.stack}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}

if (require.main === module) {
  const fatal = (e: unknown) => {
    process.stderr.write(`clicktrain: error: ${oneLine(e)}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, fatal);
}
