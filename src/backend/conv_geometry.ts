/** Converts tfjs conv/pool infos into the 15-integer geometry the addon takes. */
import {backend_util} from '@tensorflow/tfjs-core';

import type {ConvGeometry} from '../native/addon';

export function convGeometry(info: backend_util.Conv2DInfo): ConvGeometry {
  return [
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
    info.outChannels, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth,
    info.dilationHeight, info.dilationWidth, info.padInfo.top, info.padInfo.left
  ];
}
