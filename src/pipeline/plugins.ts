/**
 * Factories for the network source and sink (Prometheus, InfluxDB), registered here so the core
 * components file does not grow with every integration.
 */
import type { Source } from '../extract/source.js';
import type { Sink } from '../load/sink.js';
import type { ComponentDeps } from './components.js';

export const sourceFactories: Record<string, (cfg: unknown, deps: ComponentDeps) => Source> = {};
export const sinkFactories: Record<string, (cfg: unknown, deps: ComponentDeps) => Sink> = {};
