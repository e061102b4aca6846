// The serialized provider shims `require("pulumi-docker-firewall/…")` from the program directory, as they would
// from a user's node_modules. In this repository the package is itself: link it into node_modules.
import { existsSync, lstatSync, mkdirSync, symlinkSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "..");
const link = path.join(root, "node_modules", "pulumi-docker-firewall");
mkdirSync(path.dirname(link), { recursive: true });
if (
  !existsSync(link) &&
  !(() => {
    try {
      return lstatSync(link).isSymbolicLink();
    } catch {
      return false;
    }
  })()
) {
  symlinkSync("..", link, "dir");
}
