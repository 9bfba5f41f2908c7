import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';

/** One line describing where a benchmark ran, for every report. */
export function machineLine(): string {
  const cpu = cpus();
  const model = cpu[0]?.model.trim() ?? 'unknown CPU';
  const mem = (totalmem() / 2 ** 30).toFixed(0);
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return `${new Date().toISOString()} · Node ${process.version} · ${platform()} ${release()} ${arch()} · ${cpu.length} × ${model} · ${mem} GiB · load average at start ${load}`;
}
