/**
 * Subcommands beyond `run` (serve, setup, verify, bench…), each registered by a function so
 * main.ts stays small.
 */
import type { Command } from 'commander';
import { registerServe } from './serve.js';
import { registerInfluxCommands } from './influx-commands.js';
import { registerBench } from './bench.js';
import { registerLoadtest } from './loadtest.js';
import { registerPlan } from './plan.js';
import { registerExport } from './export.js';

export const extraCommands: Array<(program: Command) => void> = [registerServe, registerInfluxCommands, registerBench, registerLoadtest, registerPlan, registerExport];
