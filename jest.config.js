/** Tests run the TypeScript sources through ts-jest; the native addon comes from build/. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {'^.+\\.ts$': ['ts-jest', {tsconfig: 'tsconfig.json'}]},
  testTimeout: 120000,
  maxWorkers: 2,
};
