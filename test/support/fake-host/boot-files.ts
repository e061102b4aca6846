// FakeHost's persisted boot files and unit links, and what the apply script's `persist`, `unsave` and `unpersist`
// do to them: every file of a step is written or none is; a later failure puts the replaced ones back.
import { MANAGED_SETS_PATH, PERSISTED_PATHS, UNIT_LINKS } from "../../../provider/persistence/files";

/** The fixed names the apply script maps to paths, in the script's order. */
export const FILE_TARGETS: Readonly<Record<string, string>> = { ...PERSISTED_PATHS, "managed-sets": MANAGED_SETS_PATH };
const ORDER = ["config", "ipsets", "rules-ipv4", "rules-ipv6", "restore", "unit", "managed-sets"];
/** A link of older versions, removed when the unit is written. */
export const OLD_LINK = "/etc/systemd/system/docker.service.wants/docker-firewall.service";

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

  clone(): FakeBootFiles {
    const c = new FakeBootFiles();
    for (const [p, t] of this.files) c.files.set(p, t);
    for (const l of this.links) c.links.add(l);
    return c;
  }

  /** `persist`: `contents` by fixed name. `failAt` (a fixed name) stands for a full disk at that file's write. */
  persist(contents: ReadonlyMap<string, string>, failAt?: string): PersistResult {
    const names = ORDER.filter((n) => contents.has(n));
    for (const n of names) {
      if (n === failAt)
        return {
          ok: false,
          message: `cannot write ${FILE_TARGETS[n]} (disk full or read-only?): no persisted file was changed`,
        };
    }
    const files = names.map((n) => {
      const path = FILE_TARGETS[n] as string;
      const old = this.files.get(path);
      this.files.set(path, contents.get(n) as string);
      return { path, old };
    });
    if (!contents.has("unit")) return { ok: true, saved: { files } };
    const links = [...UNIT_LINKS, OLD_LINK].map((path) => ({ path, had: this.links.has(path) }));
    for (const l of UNIT_LINKS) this.links.add(l);
    this.links.delete(OLD_LINK);
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
    for (const n of ORDER) if (n !== "managed-sets") this.files.delete(FILE_TARGETS[n] as string);
    for (const l of [...UNIT_LINKS, OLD_LINK]) this.links.delete(l);
  }
}
