/** Machine facts printed with every result (a figure without its machine is meaningless). */
import os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  kernel: string;
  platform: string;
  /** Load average when the run started: other work on a shared machine skews figures. */
  loadavg: number[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    platform: `${process.platform}-${process.arch}`,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function formatMachine(m: MachineInfo): string {
  return (
    `CPU: ${m.cpuModel} × ${m.cores} cores | memory: ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB | ` +
    `Node ${m.node} | ${m.kernel} (${m.platform}) | load avg ${m.loadavg.join(' ')}`
  );
}
