/**
 * A graceful stop (SIGTERM/SIGINT, `serve` shutting down) is told apart from any other abort by the
 * abort reason: the run then ends with status `stopped`, and `aborted` stays for a real abort (the
 * library caller's signal, a timeout).
 */
export class StopRequested extends Error {
  constructor(readonly signalName: string) {
    super(`stop requested (${signalName})`);
    this.name = 'StopRequested';
  }
}

export function isStopRequest(reason: unknown): reason is StopRequested {
  return reason instanceof StopRequested;
}
