// FakeHost's persisted boot files and unit links, and what the apply script's `persist`, `unsave` and `unpersist`
// (protocol/apply-script.ts) do to them: every file of a step is written or none is; a later failure puts the
// replaced ones back. Paths and names come from protocol/paths.ts.
import {
  OLD_UNIT_LINK,
  PERSISTED_NAME_WORDS,
  STEP_FILE_NAME_WORDS,
  STEP_FILE_PATHS,
  type StepFileName,
  UNIT_LINKS,
} from "../../../provider/protocol/paths";

/** The fixed names in the order the script walks them. */
const ORDER = STEP_FILE_NAME_WORDS.split(" ") as StepFileName[];
const PERSISTED = PERSISTED_NAME_WORDS.split(" ") as StepFileName[];
const ALL_LINKS = [...UNIT_LINKS, OLD_UNIT_LINK];

/** What a persist step replaced, for its undo. */
export interface Saved {
  readonly files: ReadonlyArray<{ readonly path: string; readonly old: string | undefined }>;
  readonly links?: ReadonlyArray<{ readonly path: string; readonly had: boolean }>;
}

export type PersistResult =
  | { readonly ok: true; readonly saved: Saved }
  | { readonly ok: false; readonly message: string };

export class FakeBootFiles {
  readonly files = new Map<string, string>();
  readonly links = new Set<string>();

  /** `persist`: `contents` by fixed name. `failAt` (a fixed name) stands for a full disk at that file's write. */
  persist(contents: Readonly<Partial<Record<string, string>>>, failAt?: string): PersistResult {
    const names = ORDER.filter((n) => contents[n] !== undefined);
    if (failAt !== undefined && names.includes(failAt as StepFileName))
      return {
        ok: false,
        message: `cannot write ${STEP_FILE_PATHS[failAt as StepFileName]} (disk full or read-only?): no persisted file was changed`,
      };
    const files = names.map((n) => {
      const path = STEP_FILE_PATHS[n];
      const old = this.files.get(path);
      this.files.set(path, contents[n] as string);
      return { path, old };
    });
    if (contents.unit === undefined) return { ok: true, saved: { files } };
    const links = ALL_LINKS.map((path) => ({ path, had: this.links.has(path) }));
    for (const l of UNIT_LINKS) this.links.add(l);
    this.links.delete(OLD_UNIT_LINK);
    return { ok: true, saved: { files, links } };
  }

  /** `unsave`: puts back what one persist step replaced. */
  unsave(saved: Saved): void {
    for (const { path, old } of saved.files) {
      if (old === undefined) this.files.delete(path);
      else this.files.set(path, old);
    }
    for (const { path, had } of saved.links ?? []) {
      if (had) this.links.add(path);
      else this.links.delete(path);
    }
  }

  /** `unpersist`: removes the boot files and links; the list of managed sets stays. */
  unpersist(): void {
    for (const n of PERSISTED) this.files.delete(STEP_FILE_PATHS[n]);
    for (const l of ALL_LINKS) this.links.delete(l);
  }
}
