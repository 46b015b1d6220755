/**
 * Subcommands beyond `run` (setup, verify, serve, bench…), each registered by a function so
 * main.ts stays small.
 */
import type { Command } from 'commander';

export const extraCommands: Array<(program: Command) => void> = [];
