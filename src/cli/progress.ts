/** Training progress: a live cli-progress bar on a TTY, plain log lines otherwise, or JSON lines. */
import * as cliProgress from 'cli-progress';
import {duration, pct} from '../report/format';

export type ProgressMode = 'bar' | 'plain' | 'json';

export interface BatchEvent {
  epoch: number;
  batch: number;
  loss: number;
  acc: number;
  phase: string;
  images: number;
}

export interface EpochEvent {
  epoch: number;
  phase: string;
  lr: number;
  loss: number;
  acc: number;
  valLoss?: number;
  valAcc?: number;
  seconds: number;
  images: number;
}

export interface Out {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Picks the mode: JSON when asked, a bar on an interactive terminal, else plain lines. */
export function chooseMode(json: boolean, pref: 'auto' | 'bar' | 'plain', isTTY: boolean): ProgressMode {
  if (json) return 'json';
  if (pref === 'bar') return 'bar';
  if (pref === 'plain') return 'plain';
  return isTTY ? 'bar' : 'plain';
}

export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private epochStart = Date.now();
  private epochImages = 0;
  private readonly total: number;
  private lastPlain = 0;

  constructor(readonly mode: ProgressMode, private readonly out: Out, readonly epochs: number, readonly batchesPerEpoch: number) {
    this.total = epochs * batchesPerEpoch;
  }

  /** JSON line (json mode only). */
  json(event: string, data: Record<string, unknown>): void {
    if (this.mode === 'json') this.out.stdout(JSON.stringify({event, time: new Date().toISOString(), ...data}) + '\n');
  }

  /** A human message (plain/bar modes; printed above the bar). */
  info(text: string): void {
    if (this.mode === 'json') return;
    if (this.bar) {
      // cli-progress redraws on the next update; clear the line first
      process.stderr.write('\r\x1b[K');
      this.out.stdout(text + '\n');
    } else {
      this.out.stdout(text + '\n');
    }
  }

  start(startEpoch: number, startBatch: number): void {
    if (this.mode !== 'bar') return;
    this.bar = new cliProgress.SingleBar({
      format: 'epoch {ep}/{epochs} |{bar}| {percentage}% | batch {b}/{bpe} | loss {loss} acc {acc} | {phase} | {ips} img/s | ETA {eta_formatted}',
      barsize: 24, hideCursor: true, etaBuffer: 50, fps: 5, stream: process.stderr, clearOnComplete: true,
    }, cliProgress.Presets.shades_classic);
    this.bar.start(this.total, startEpoch * this.batchesPerEpoch + startBatch, {
      ep: startEpoch + 1, epochs: this.epochs, b: startBatch, bpe: this.batchesPerEpoch, loss: '-', acc: '-', phase: '-', ips: '-',
    });
  }

  batch(e: BatchEvent): void {
    this.epochImages = e.images;
    const sec = (Date.now() - this.epochStart) / 1000;
    const ips = sec > 0 ? e.images / sec : 0;
    if (this.mode === 'bar' && this.bar) {
      this.bar.update(e.epoch * this.batchesPerEpoch + e.batch, {
        ep: e.epoch + 1, epochs: this.epochs, b: e.batch, bpe: this.batchesPerEpoch, loss: e.loss.toFixed(3),
        acc: pct(e.acc, 1), phase: e.phase, ips: ips.toFixed(0),
      });
    } else if (this.mode === 'plain') {
      // a line at most every 10 s, so long epochs still show life in a log file
      const now = Date.now();
      if (now - this.lastPlain > 10000 && e.batch < this.batchesPerEpoch) {
        this.lastPlain = now;
        this.out.stdout(`  epoch ${e.epoch + 1}/${this.epochs} batch ${e.batch}/${this.batchesPerEpoch} loss ${e.loss.toFixed(4)} acc ${pct(e.acc, 1)} [${e.phase}] ${ips.toFixed(1)} img/s\n`);
      }
    } else {
      const every = Math.max(1, Math.floor(this.batchesPerEpoch / 20));
      if (e.batch % every === 0 || e.batch === this.batchesPerEpoch) {
        this.json('batch', {epoch: e.epoch, batch: e.batch, batches: this.batchesPerEpoch, loss: e.loss, acc: e.acc, phase: e.phase, imagesPerSecond: ips});
      }
    }
  }

  epoch(r: EpochEvent): void {
    const line = `epoch ${r.epoch + 1}/${this.epochs} [${r.phase}] lr ${r.lr.toPrecision(3)} loss ${r.loss.toFixed(4)} acc ${pct(r.acc)}` +
      (r.valAcc !== undefined ? ` | test loss ${r.valLoss!.toFixed(4)} acc ${pct(r.valAcc)}` : '') +
      ` | ${duration(r.seconds)}, ${(r.images / Math.max(1e-9, r.seconds)).toFixed(1)} img/s`;
    if (this.mode === 'json') this.json('epoch', {...r});
    else this.info(line);
    this.epochStart = Date.now();
    this.epochImages = 0;
  }

  stop(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }
}
