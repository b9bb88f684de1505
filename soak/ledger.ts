// The soak's record of writes and the final verdict on them. Every write attempt is
// recorded before it starts, with the hash of its content, and marked acknowledged when
// it returned success (fsync returned 0, or `slotfs put` exited 0). Pure: no I/O.
//
// The verdict on one file, given what a fresh client reads there:
//  - the content of the latest acknowledged write, or of any write started after it
//    (it may have landed without being acknowledged): ok;
//  - the content of an earlier write: rolled back;
//  - anything else, or nothing: lost.
// Writes to one file come from one writer, one at a time, so their order is known.

export type Verdict = 'ok' | 'rolled back' | 'lost';

export interface Attempt {
  hash: string;
  acknowledged: boolean;
  /** The write empties the file first (open with O_TRUNC), so "empty" is a state of it. */
  truncates: boolean;
}

/** SHA-256 of no bytes: what an emptied file hashes to. */
export const EMPTY_HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface FileVerdict {
  file: string;
  verdict: Verdict;
  /** Index of the latest acknowledged attempt, and of the attempt read (−1: none). */
  latestAcknowledged: number;
  found: number;
  detail: string;
}

export class Ledger {
  private readonly files = new Map<string, Attempt[]>();

  /** Records an attempt about to start; returns its index for acknowledge(). */
  begin(file: string, hash: string, options: { truncates?: boolean } = {}): number {
    const list = this.files.get(file) ?? [];
    list.push({ hash, acknowledged: false, truncates: options.truncates ?? false });
    this.files.set(file, list);
    return list.length - 1;
  }

  acknowledge(file: string, index: number): void {
    const attempt = this.files.get(file)?.[index];
    if (!attempt) throw new RangeError(`no attempt ${index} on ${file}`);
    attempt.acknowledged = true;
  }

  get acknowledgedWrites(): number {
    let n = 0;
    for (const list of this.files.values()) n += list.filter((a) => a.acknowledged).length;
    return n;
  }

  get attempts(): number {
    let n = 0;
    for (const list of this.files.values()) n += list.length;
    return n;
  }

  /** Files with at least one acknowledged write: the ones a check must find. */
  checkedFiles(): string[] {
    return [...this.files]
      .filter(([, list]) => list.some((a) => a.acknowledged))
      .map(([file]) => file);
  }

  /** The verdict on `file`, whose content read back hashes to `found` (undefined: absent). */
  judge(file: string, found: string | undefined): FileVerdict {
    const list = this.files.get(file) ?? [];
    let latest = -1;
    list.forEach((a, i) => {
      if (a.acknowledged) latest = i;
    });
    const at = found === undefined ? -1 : lastIndexOf(list, found);
    const base = { file, latestAcknowledged: latest, found: at };
    const history = list.map((a, i) => `${i}${a.acknowledged ? '✓' : '✗'}`).join(' ');
    if (latest < 0) return { ...base, verdict: 'ok', detail: 'nothing acknowledged' };
    if (at >= latest) return { ...base, verdict: 'ok', detail: `attempt ${at}` };
    // Emptied by a later write that was cut short (never acknowledged): a state it passed.
    const emptied = list.findIndex((a, i) => i > latest && a.truncates);
    if (found === EMPTY_HASH && emptied >= 0) {
      return { ...base, verdict: 'ok', detail: `emptied by attempt ${emptied}, not acknowledged` };
    }
    if (at >= 0) {
      return {
        ...base,
        verdict: 'rolled back',
        detail: `read attempt ${at}, but attempt ${latest} was acknowledged (attempts ${history})`,
      };
    }
    return {
      ...base,
      verdict: 'lost',
      detail:
        found === undefined
          ? `missing; attempt ${latest} was acknowledged (attempts ${history})`
          : `content ${found.slice(0, 12)}… was never written; attempt ${latest} was acknowledged (attempts ${history})`,
    };
  }
}

function lastIndexOf(list: Attempt[], hash: string): number {
  for (let i = list.length - 1; i >= 0; i--) if (list[i].hash === hash) return i;
  return -1;
}

/** The soak's last line; the counts decide the exit code. */
export function summaryLine(trials: number, writes: number, lost: number, rolledBack: number) {
  return `soak: ${trials} trials, ${writes} acknowledged writes, ${lost} lost, ${rolledBack} rolled back`;
}
