/** `clicktrain train`: ClickTrain training with checkpoints, resume, progress and the report. */
import * as fs from 'fs';
import * as path from 'path';
import {buildModel} from '../models/builders';
import {exportPrunedModel} from '../pruning/export';
import type {ClickTrainOptions} from '../pruning/controller';
import {evaluate, train as runTrainer} from '../train/trainer';
import type {EpochRecord} from '../train/trainer';
import {hasCheckpoint} from '../train/checkpoint';
import {formatReportTable, HistoryPoint, phaseSecondsOf, renderReportHtml, RunReport} from '../report';
import {sparseCallCounts, setSparseKernelsEnabled} from '../sparse';
import {ensureWritableDir, writeFileAtomic} from './atomic';
import {useNativeBackend} from './backend';
import {openData} from './data';
import {CliError, oneLine} from './errors';
import {builderName, RawTrainOptions, resolveTrainOptions, RESUME_RUNTIME_KEYS, TrainConfig} from './options';
import {chooseMode, Out, Progress} from './progress';

export const RUN_FILE = 'run.json';

interface RunFile {
  format: 'clicktrain-run';
  version: 1;
  config: TrainConfig;
  startedAt: string;
}

/** Reads the run description of `dir` for `--resume`. */
export function readRunFile(dir: string): RunFile {
  const f = path.join(dir, RUN_FILE);
  if (!fs.existsSync(dir)) throw new CliError(`--resume folder not found: ${dir}`);
  if (!fs.existsSync(f)) throw new CliError(`--resume ${dir}: no ${RUN_FILE} there (not a clicktrain train output folder)`);
  let run: RunFile;
  try {
    run = JSON.parse(fs.readFileSync(f, 'utf8')) as RunFile;
  } catch (e) {
    throw new CliError(`--resume ${dir}: ${f} is corrupt (${oneLine(e)})`);
  }
  if (run.format !== 'clicktrain-run' || run.version !== 1 || !run.config) throw new CliError(`--resume ${dir}: ${f} is not a clicktrain run file`);
  return run;
}

/**
 * The config of a resumed run: the stored one, with runtime options (threads, json,
 * sparse kernels, progress, data folder) taken from the command line. Training
 * options given on the command line must match the stored run.
 */
export function resumeConfig(dir: string, raw: RawTrainOptions, cwd = process.cwd()): TrainConfig {
  const run = readRunFile(path.resolve(cwd, dir));
  const stored = run.config;
  const given = Object.entries(raw).filter(([k, v]) => v !== undefined && k !== 'resume' && !(k === 'sparseKernels' && v === true));
  const cfg: TrainConfig = {...stored, out: path.resolve(cwd, dir)};
  const runtime = new Set<string>(RESUME_RUNTIME_KEYS);
  const probe = given.filter(([k]) => !runtime.has(k) && k !== 'out');
  if (probe.length) {
    // Resolve what the user gave with the stored values as the base to compare like with like.
    const merged: RawTrainOptions = {model: stored.model, dataset: stored.dataset, data: stored.data ?? undefined, out: dir};
    for (const [k, v] of probe) merged[k] = v;
    const fresh = resolveTrainOptions(merged, cwd);
    for (const [k] of probe) {
      const a = JSON.stringify((fresh as unknown as Record<string, unknown>)[k === 'schedule' ? 'schedule' : k]);
      const b = JSON.stringify((stored as unknown as Record<string, unknown>)[k]);
      if (a !== b) throw new CliError(`--resume ${dir}: option --${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} differs from the stored run (${b}); omit it to continue the run`);
    }
  }
  if (raw.out !== undefined && path.resolve(cwd, String(raw.out)) !== cfg.out) throw new CliError('--resume DIR continues in DIR; do not give a different --out');
  if (raw.threads !== undefined) {
    const n = Number(raw.threads);
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new CliError(`invalid --threads '${String(raw.threads)}': must be an integer in 1..1024`);
    cfg.threads = n;
  }
  if (raw.json !== undefined) cfg.json = raw.json === true;
  if (raw.sparseKernels === false) cfg.sparseKernels = false;
  if (raw.progress !== undefined) cfg.progress = raw.progress as TrainConfig['progress'];
  if (raw.data !== undefined) cfg.data = path.resolve(cwd, String(raw.data));
  return cfg;
}

export function clickTrainOptions(cfg: TrainConfig): ClickTrainOptions {
  return {
    targetCompression: cfg.targetCompression,
    patternSize: cfg.patternSize,
    librarySize: cfg.patterns,
    libraryScope: cfg.libraryScope,
    fixedLibrary: cfg.fixedLibrary ?? undefined,
    importanceWindow: cfg.importanceWindow,
    groupLassoLambda: cfg.lambda,
    schedule: cfg.schedule,
  };
}

function optionsForReport(cfg: TrainConfig): RunReport['options'] {
  const o: RunReport['options'] = {};
  for (const [k, v] of Object.entries(cfg)) {
    if (k === 'schedule' || k === 'json' || k === 'progress') continue;
    o[k] = v === undefined ? null : (typeof v === 'object' && v !== null ? JSON.stringify(v) : v as string | number | boolean | null);
  }
  return o;
}

/** Runs `clicktrain train`; resolves to the exit code. */
export async function trainCommand(raw: RawTrainOptions, out: Out, signals: NodeJS.EventEmitter = process): Promise<number> {
  const t0 = Date.now();
  const resuming = raw.resume !== undefined;
  const cfg = resuming ? resumeConfig(String(raw.resume), raw) : resolveTrainOptions(raw);
  ensureWritableDir(cfg.out);
  if (!resuming && hasCheckpoint(cfg.out)) {
    throw new CliError(`output folder ${cfg.out} already holds a checkpoint: continue it with --resume ${cfg.out}, or choose another --out`);
  }
  if (resuming && !hasCheckpoint(cfg.out)) throw new CliError(`--resume ${cfg.out}: no checkpoint there yet (nothing to continue)`);
  const mode = chooseMode(cfg.json, cfg.progress, !!process.stderr.isTTY);
  const data = openData(cfg);
  try {
    const be = await useNativeBackend(cfg.threads);
    setSparseKernelsEnabled(cfg.sparseKernels);
    const model = buildModel(builderName(cfg.model), {
      inputShape: [data.train.height, data.train.width, data.train.channels], numClasses: data.train.numClasses, seed: cfg.seed,
    });
    if (!resuming) {
      writeFileAtomic(path.join(cfg.out, RUN_FILE), JSON.stringify({format: 'clicktrain-run', version: 1, config: cfg, startedAt: new Date().toISOString()}, null, 1));
    }
    const progress = new Progress(mode, out, cfg.epochs, data.trainSource.batchesPerEpoch);
    const header = `${cfg.demo ? 'demo: ' : ''}ClickTrain ${cfg.model} on ${data.describe}; ${cfg.epochs} epochs, batch ${cfg.batch}, ` +
      `target ${cfg.targetCompression}x, ${cfg.patterns} patterns of ${cfg.patternSize}; backend ${be.backend}${be.isa ? ` (${be.isa})` : ''}` +
      `${be.threads ? `, ${be.threads} threads` : ''}; output ${cfg.out}`;
    progress.info(header);
    if (resuming) progress.info(`resuming from ${path.join(cfg.out, 'checkpoint')}`);
    progress.json('start', {config: cfg, backend: be, trainImages: data.trainSize, testImages: data.testSize, resumed: resuming});

    let stopRequested = false;
    const onSigint = () => {
      if (stopRequested) {
        out.stderr('clicktrain: second interrupt, exiting without waiting (the last complete checkpoint is intact)\n');
        process.exit(130);
      }
      stopRequested = true;
      progress.stop();
      out.stderr('\nclicktrain: interrupt received, saving a checkpoint after this batch (Ctrl-C again to quit at once)\n');
    };
    signals.on('SIGINT', onSigint);
    let result;
    let started = false;
    try {
      result = await runTrainer({
        model, optimizer: cfg.optimizer, learningRate: cfg.lr, lrSchedule: cfg.lrSchedule, weightDecay: cfg.weightDecay,
        labelSmoothing: cfg.labelSmoothing, epochs: cfg.epochs, train: data.trainSource, validation: data.testSource,
        clickTrain: clickTrainOptions(cfg), seed: cfg.seed, checkpointDir: cfg.out, checkpointEvery: 1, resume: resuming,
        shouldStop: () => stopRequested,
        onBatchEnd: (b) => {
          if (!started) {
            started = true;
            progress.start(b.epoch, b.batch - 1);
          }
          progress.batch({epoch: b.epoch, batch: b.batch, loss: b.loss, acc: b.acc, phase: b.phase, images: b.images});
        },
        onEpochEnd: (rec: EpochRecord) => {
          progress.stop();
          started = false;
          progress.epoch(rec);
          progress.json('checkpoint', {epoch: rec.epoch + 1, dir: path.join(cfg.out, 'checkpoint')});
        },
        onPhase: (phase, epoch) => {
          progress.stop();
          started = false;
          const what = phase === 'patterns' ? 'importance measured, kernels pruned, pattern library chosen' :
            phase === 'soft' ? 'group-lasso soft phase' : phase === 'hard' ? 'hard prune: masks enforced from now on' : 'dense';
          progress.info(`-- phase ${phase} from epoch ${epoch + 1}: ${what}`);
          progress.json('phase', {phase, epoch});
        },
      });
    } finally {
      progress.stop();
      signals.removeListener('SIGINT', onSigint);
    }
    if (result.stopped) {
      const msg = `interrupted: checkpoint saved in ${path.join(cfg.out, 'checkpoint')}; continue with: clicktrain train --resume ${cfg.out}`;
      if (mode === 'json') progress.json('interrupted', {dir: cfg.out, message: msg});
      else out.stderr(`clicktrain: ${msg}\n`);
      result.controller?.dispose();
      return 130;
    }
    const controller = result.controller!;
    const history = result.history as HistoryPoint[];
    const last = history[history.length - 1];
    let testAcc = last?.valAcc;
    let testLoss = last?.valLoss;
    if (testAcc === undefined) {
      const ev = await evaluate(model, data.testSource);
      testAcc = ev.acc;
      testLoss = ev.loss;
    }
    const summary = controller.summary();
    const exp = await exportPrunedModel(model, controller.masksByLayerName(), path.join(cfg.out, 'model'));
    const report: RunReport = {
      format: 'clicktrain-report', version: 1,
      title: `ClickTrain: ${cfg.model} on ${cfg.dataset}${cfg.demo ? ' (demo)' : ''}`,
      createdAt: new Date().toISOString(), model: cfg.model, dataset: cfg.dataset, options: optionsForReport(cfg),
      history, phaseSeconds: phaseSecondsOf(history), wallSeconds: (Date.now() - t0) / 1000, summary,
      final: {testAcc, testLoss, trainAcc: last?.acc, trainLoss: last?.loss},
      export: {denseBytes: exp.denseBytes, compactBytes: exp.compactBytes},
      backend: be.backend, threads: be.threads ?? undefined,
      sparseKernels: {enabled: cfg.sparseKernels, frozen: controller.sparseFrozen, calls: {...sparseCallCounts}},
    };
    const htmlFile = path.join(cfg.out, 'report.html');
    writeFileAtomic(path.join(cfg.out, 'report.json'), JSON.stringify(report));
    writeFileAtomic(htmlFile, renderReportHtml(report));
    if (mode === 'json') {
      progress.json('done', {report: htmlFile, model: path.join(cfg.out, 'model'), testAcc, testLoss, totals: summary.totals,
        phaseSeconds: report.phaseSeconds, export: report.export});
    } else {
      out.stdout('\n' + formatReportTable(report) + '\n');
      out.stdout(`\nreport: ${htmlFile}\nmodel: ${path.join(cfg.out, 'model')} (dense tfjs files in dense/, compact format in compact/)\n`);
      out.stdout(`inspect it with: clicktrain inspect ${cfg.out}\n`);
    }
    controller.dispose();
    return 0;
  } finally {
    data.close();
  }
}
