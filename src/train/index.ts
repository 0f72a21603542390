/** Trainer loop, losses, batch sources and checkpoints. */
export * from './losses';
export * from './sources';
export * from './checkpoint';
export * from './trainer';
