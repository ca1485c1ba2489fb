import type { SandboxLimits } from '../contract.ts';

/** `prlimit` arguments that set every limit (soft = hard) on the command that follows them. */
export function prlimitArgs(prlimitPath: string, limits: SandboxLimits, addressSpaceBytes: number): string[] {
  return [
    prlimitPath,
    `--cpu=${limits.cpuSeconds}`,
    `--as=${addressSpaceBytes}`,
    `--nproc=${limits.maxProcesses}`,
    `--fsize=${limits.maxFileBytes}`,
    // A core dump of a 512 MiB process would be a file-size-limit fight we never need.
    '--core=0',
    '--nofile=256',
    '--',
  ];
}
