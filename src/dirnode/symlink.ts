// Symbolic links in directories (docs/formats.md, "Symbolic links in directories"). A link
// is a child whose cap is a literal cap (URI:LIT:) holding the target's bytes, and whose
// metadata carries {"slotfs": {"type": "symlink"}}. Every Tahoe client lists a literal
// child without error (it shows a small read-only file holding the target), and needs no
// grid access to read it; the metadata key is ignored by Tahoe, which only owns `tahoe`.
import { formatCap, parseCap } from '../caps/index.js';
import type { ChildCaps, ChildMetadata } from './directory.js';

/** PATH_MAX (4096) includes the terminating NUL. */
export const MAX_SYMLINK_TARGET_BYTES = 4095;

export class SymlinkTargetError extends Error {
  readonly code = 'ERR_DIR_SYMLINK_TARGET';
  constructor(message: string) {
    super(message);
    this.name = 'SymlinkTargetError';
  }
}

/** The caps and metadata to link a symbolic link pointing at `target` under. */
export function symlinkChild(target: string | Uint8Array): {
  caps: ChildCaps;
  metadata: ChildMetadata;
} {
  const data = typeof target === 'string' ? new TextEncoder().encode(target) : target;
  if (data.length === 0) throw new SymlinkTargetError('a symbolic link target must not be empty');
  if (data.length > MAX_SYMLINK_TARGET_BYTES) {
    throw new SymlinkTargetError(
      `a symbolic link target holds at most ${MAX_SYMLINK_TARGET_BYTES} bytes, got ${data.length}`,
    );
  }
  if (data.includes(0)) throw new SymlinkTargetError('a symbolic link target must not hold NUL');
  const roCap = formatCap({ kind: 'literal', directory: false, data: new Uint8Array(data) });
  return { caps: { roCap }, metadata: { slotfs: { type: 'symlink' } } };
}

/** Whether a child's metadata marks it a symbolic link. */
export function isSymlinkMetadata(metadata: ChildMetadata): boolean {
  const own = metadata.slotfs;
  return typeof own === 'object' && own !== null && (own as { type?: unknown }).type === 'symlink';
}

/**
 * The target bytes of a child that is a symbolic link, or undefined when it is not one (no
 * marker, or a cap that is not literal: then it is shown as what its cap says).
 */
export function symlinkTargetOf(child: {
  roCap: string;
  metadata: ChildMetadata;
}): Uint8Array | undefined {
  if (!isSymlinkMetadata(child.metadata) || !child.roCap.startsWith('URI:LIT:')) return undefined;
  try {
    const cap = parseCap(child.roCap);
    return cap.kind === 'literal' ? cap.data : undefined;
  } catch {
    return undefined;
  }
}
