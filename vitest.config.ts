import { defineConfig } from 'vitest/config';

// Model tests load llama.cpp contexts whose threads busy-wait: run test files one at a time so they do not
// fight over the 2 cores, and give model loads room.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
