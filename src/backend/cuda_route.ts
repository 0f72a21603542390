/**
 * Optional GPU routing for Conv2D and its two backprops: with CLICKTRAIN_DEVICE=cuda (or
 * setConvDevice('cuda')) and an addon built with nvcc on a machine with a CUDA device, those
 * kernels run on the GPU. Tensors stay in host memory (this backend is CPU-resident), so every
 * call copies inputs to the device and the result back; lastCudaTiming() reports how much of the
 * time that was. Everything else, and any call when no device is usable, runs on the CPU.
 */
import {addon, ConvGeometry} from '../native/addon';

export interface CudaTiming {
  totalMs: number;
  h2dMs: number;
  kernelMs: number;
  d2hMs: number;
  h2dBytes: number;
  d2hBytes: number;
  path: string;
}

type CudaFn = (g: ConvGeometry, a: Float32Array, b: Float32Array, out: Float32Array,
               tf32: boolean) => CudaTiming;

let device: 'cpu' | 'cuda' = process.env.CLICKTRAIN_DEVICE === 'cuda' ? 'cuda' : 'cpu';
let tf32 = process.env.CLICKTRAIN_TF32 === '1';
let usable: boolean | undefined;
let last: CudaTiming | undefined;

/** Routes Conv2D and its backprops to 'cuda' (when usable) or keeps them on 'cpu'. `tf32` enables
 * TF32 tensor cores for the dense GPU kernels. Returns whether the GPU will actually be used. */
export function setConvDevice(d: 'cpu' | 'cuda', opts: {tf32?: boolean} = {}): boolean {
  device = d;
  if (opts.tf32 !== undefined) tf32 = opts.tf32;
  return d === 'cuda' && cudaUsable();
}

function cudaUsable(): boolean {
  if (usable === undefined) usable = addon().info().cuda?.available === true;
  return usable;
}

/** Whether the conv kernels go to the GPU now. */
export function cudaRoutes(): boolean {
  return device === 'cuda' && cudaUsable();
}

export function lastCudaTiming(): CudaTiming | undefined {
  return last;
}

/** Runs the named CUDA conv entry point when routing says so; false means run on the CPU. An input
 * may be given as a function, called only when the GPU runs (a deferred tensor stays unread). */
export function tryCuda(name: 'cudaConv2dForward' | 'cudaConv2dBackpropInput' | 'cudaConv2dBackpropFilter',
                        g: ConvGeometry, a: Float32Array, b: Float32Array | (() => Float32Array),
                        out: Float32Array): boolean {
  if (!cudaRoutes()) return false;
  const fn = addon()[name] as CudaFn | undefined;
  if (!fn) return false;
  last = fn(g, a, typeof b === 'function' ? b() : b, out, tf32);
  return true;
}
