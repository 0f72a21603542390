/** Data: CIFAR-10/100 binary readers, Fashion-MNIST, streamed normalised/augmented batches. */
export * from './rng';
export * from './images';
export * from './cifar';
export * from './fashion_mnist';
