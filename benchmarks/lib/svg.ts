/** The chart renderer lives in src/util/svg.ts (the load test draws its charts with it too). */
export * from '../../src/util/svg.js';
