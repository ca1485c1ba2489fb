/**
 * The seccomp filter in front of every sandboxed program, as a classic BPF program bubblewrap loads
 * with `--seccomp FD` just before it executes the program (so bubblewrap's own setup is not filtered).
 *
 * Generated here rather than by libseccomp: the rule set is a short deny list with one argument check
 * (clone's namespace flags), the output is a pure function of it that unit tests decode and run, and
 * nothing has to be compiled or installed beside bubblewrap. See docs/sandbox.md.
 */

/** Why a syscall is refused, and what the program sees. */
export type DenyErrno = 'EPERM' | 'ENOSYS';

const ERRNO: Record<DenyErrno, number> = { EPERM: 1, ENOSYS: 38 };

/** Syscall numbers per architecture, from the kernel's unistd headers. */
export interface SyscallTable {
  /** AUDIT_ARCH_* value seccomp_data.arch carries. */
  readonly auditArch: number;
  readonly numbers: Readonly<Record<DeniedSyscall | 'clone', number>>;
  /** x86_64 only: the x32 ABI bit; every syscall with it set is refused. */
  readonly x32Bit?: number;
}

/**
 * Refused outright. The keyring (secrets of the host session, a channel between runs), io_uring (a
 * large, often-exploited kernel surface that also bypasses syscall filtering), bpf, userfaultfd
 * (exploit timing), perf_event_open, ptrace and process_vm_* (nothing in a sandbox needs to trace;
 * denying all of it is simpler than "own children only", which the PID namespace already ensures),
 * namespace creation, and memory the address-space limit does not count: SysV shared memory and message
 * queues, memfd.
 */
export const DENIED_SYSCALLS = [
  'keyctl',
  'add_key',
  'request_key',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'bpf',
  'userfaultfd',
  'perf_event_open',
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'unshare',
  'setns',
  'shmget',
  'shmat',
  'msgget',
  'memfd_create',
  'memfd_secret',
  'clone3',
] as const;
export type DeniedSyscall = (typeof DENIED_SYSCALLS)[number];

/**
 * clone3 passes its flags in a struct BPF cannot read, so it gets ENOSYS: glibc (pthread_create, fork,
 * posix_spawn) then falls back to clone, whose flags argument the filter checks.
 */
const ERRNO_OF: Partial<Record<DeniedSyscall, DenyErrno>> = { clone3: 'ENOSYS' };

/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (NEWTIME is clone3/unshare only). */
export const CLONE_NAMESPACE_FLAGS = 0x7e02_0000;

export const X86_64: SyscallTable = {
  auditArch: 0xc000_003e,
  x32Bit: 0x4000_0000,
  numbers: {
    keyctl: 250,
    add_key: 248,
    request_key: 249,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    bpf: 321,
    userfaultfd: 323,
    perf_event_open: 298,
    ptrace: 101,
    process_vm_readv: 310,
    process_vm_writev: 311,
    unshare: 272,
    setns: 308,
    shmget: 29,
    shmat: 30,
    msgget: 68,
    memfd_create: 319,
    memfd_secret: 447,
    clone3: 435,
    clone: 56,
  },
};

export const AARCH64: SyscallTable = {
  auditArch: 0xc000_00b7,
  numbers: {
    keyctl: 219,
    add_key: 217,
    request_key: 218,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    bpf: 280,
    userfaultfd: 282,
    perf_event_open: 241,
    ptrace: 117,
    process_vm_readv: 270,
    process_vm_writev: 271,
    unshare: 97,
    setns: 268,
    shmget: 194,
    shmat: 196,
    msgget: 186,
    memfd_create: 279,
    memfd_secret: 447,
    clone3: 435,
    clone: 220,
  },
};

// Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
const LD_W_ABS = 0x20;
const JMP_JA = 0x05;
const JMP_JEQ_K = 0x15;
const JMP_JGE_K = 0x35;
const JMP_JSET_K = 0x45;
const RET_K = 0x06;
export const SECCOMP_RET_KILL_PROCESS = 0x8000_0000;
export const SECCOMP_RET_ALLOW = 0x7fff_0000;
const SECCOMP_RET_ERRNO = 0x0005_0000;
// Offsets in struct seccomp_data; args are u64, read as their low 32 bits (both arches little-endian).
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16;

/** One `struct sock_filter`. */
export interface BpfInstruction {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

const insn = (code: number, k: number, jt = 0, jf = 0): BpfInstruction => ({ code, jt, jf, k: k >>> 0 });
const errno = (name: DenyErrno): number => SECCOMP_RET_ERRNO | ERRNO[name];

/** The rules for one architecture: deny list, then clone's flags, then allow. */
function archBlock(table: SyscallTable): BpfInstruction[] {
  const out: BpfInstruction[] = [insn(LD_W_ABS, OFFSET_NR)];
  if (table.x32Bit !== undefined) {
    out.push(insn(JMP_JGE_K, table.x32Bit, 0, 1), insn(RET_K, errno('ENOSYS')));
  }
  for (const name of DENIED_SYSCALLS) {
    out.push(insn(JMP_JEQ_K, table.numbers[name], 0, 1), insn(RET_K, errno(ERRNO_OF[name] ?? 'EPERM')));
  }
  out.push(
    insn(JMP_JEQ_K, table.numbers.clone, 0, 3),
    insn(LD_W_ABS, OFFSET_ARG0_LOW),
    insn(JMP_JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1),
    insn(RET_K, errno('EPERM')),
    insn(RET_K, SECCOMP_RET_ALLOW),
  );
  return out;
}

/**
 * The filter program: dispatch on the architecture (anything but x86_64 and aarch64, including the
 * i386 entry on x86_64, kills the process), then per architecture refuse {@link DENIED_SYSCALLS} with
 * EPERM (clone3 with ENOSYS) and clone with any namespace flag with EPERM; allow the rest.
 */
export function seccompProgram(tables: readonly SyscallTable[] = [X86_64, AARCH64]): BpfInstruction[] {
  const blocks = tables.map(archBlock);
  // Header: load arch, then per table "jeq arch ? next : skip; ja block", then kill.
  const header: BpfInstruction[] = [insn(LD_W_ABS, OFFSET_ARCH)];
  const headerLength = 1 + 2 * tables.length + 1;
  let blockStart = headerLength;
  tables.forEach((table, i) => {
    header.push(insn(JMP_JEQ_K, table.auditArch, 0, 1));
    // `ja` is relative to the next instruction: the one after this jump.
    const jaIndex = header.length;
    header.push(insn(JMP_JA, blockStart - (jaIndex + 1)));
    blockStart += blocks[i]!.length;
  });
  header.push(insn(RET_K, SECCOMP_RET_KILL_PROCESS));
  return [...header, ...blocks.flat()];
}

/** The program as bubblewrap reads it from `--seccomp FD`: `struct sock_filter[]` in host byte order. */
export function encodeSeccompProgram(program: readonly BpfInstruction[]): Buffer {
  const buffer = Buffer.alloc(program.length * 8);
  program.forEach((i, n) => {
    buffer.writeUInt16LE(i.code, n * 8);
    buffer.writeUInt8(i.jt, n * 8 + 2);
    buffer.writeUInt8(i.jf, n * 8 + 3);
    buffer.writeUInt32LE(i.k, n * 8 + 4);
  });
  return buffer;
}

/** What the filter answers for one syscall, by interpreting the program (tests, docs). */
export function evaluateSeccomp(
  program: readonly BpfInstruction[],
  data: { arch: number; nr: number; arg0?: number },
): number {
  let accumulator = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const i = program[pc]!;
    switch (i.code) {
      case LD_W_ABS:
        accumulator =
          i.k === OFFSET_ARCH
            ? data.arch >>> 0
            : i.k === OFFSET_NR
              ? data.nr >>> 0
              : i.k === OFFSET_ARG0_LOW
                ? (data.arg0 ?? 0) >>> 0
                : 0;
        break;
      case JMP_JA:
        pc += i.k;
        break;
      case JMP_JEQ_K:
        pc += accumulator === i.k ? i.jt : i.jf;
        break;
      case JMP_JGE_K:
        pc += accumulator >= i.k ? i.jt : i.jf;
        break;
      case JMP_JSET_K:
        pc += (accumulator & i.k) !== 0 ? i.jt : i.jf;
        break;
      case RET_K:
        return i.k;
      default:
        throw new Error(`unknown BPF opcode ${i.code}`);
    }
  }
  throw new Error('BPF program fell off its end');
}

/** The encoded default filter, built once. */
export const SECCOMP_FILTER: Buffer = encodeSeccompProgram(seccompProgram());
