/** Model builders (CIFAR VGG-BN, CIFAR ResNet, small Fashion-MNIST CNN). */
export * from './builders';
export * from './custom_layers';
