/**
 * Packed arrays (layout order) that deferred dense tensors read: the frozen layers' gradient,
 * weight and momentum (frozen_update.ts). A deferred tensor computes its values from its slot
 * when first read, so a slot is rewritten only after that tensor was disposed or computed. Two
 * slots per array and layer suffice in training: step k writes one while step k-1's tensor (still
 * the variable's value until the optimiser assigns the new one) reads the other.
 */
import type {ClickTrainBackend} from '../backend/backend';

export interface PackedSlot {
  values: Float32Array;
  /** The deferred tensor whose values come from this slot. */
  reader?: object;
}

export class PackedSlots {
  private readonly slots: PackedSlot[] = [];

  constructor(readonly length: number) {}

  /** A slot to write into, never the one holding `busy`; the slot's reader is computed first
   * when it is still pending. */
  take(backend: ClickTrainBackend, busy?: Float32Array): PackedSlot {
    const free = this.slots.filter((s) => s.values !== busy);
    let slot = free.find((s) => !backend.isDeferred(s.reader));
    if (!slot && this.slots.length < 2) {
      slot = {values: new Float32Array(this.length)};
      this.slots.push(slot);
    }
    if (!slot) {
      slot = free[0];
      backend.materialize(slot.reader);
    }
    slot.reader = undefined;
    return slot;
  }
}
