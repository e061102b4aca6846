// Hand-written DOCKER-USER rulesets of the articles this project grew from (shared/seeds/ 000, 001, 003, 004), as
// a user loads them (`-A` lines in final chain order, above Docker's RETURN), and as iptables-save prints them
// back (measured on iptables 1.8.9, both backends; test/kernel/adopt-roundtrip.test.ts checks it still holds).
// Where a recipe matches a published port without `--ctdir ORIGINAL`, the tightened form seed 004's own note
// recommends is the recipe (as in test/kernel/seed-recipes.test.ts); the literal forms are `untightened`.

export interface HandRecipe {
  readonly name: string;
  readonly ipset?: string;
  readonly ipv4: readonly string[];
  readonly ipv6?: readonly string[];
  /** The same rules as iptables-save prints them (DOCKER-USER only, without Docker's RETURN). */
  readonly saved4: readonly string[];
  readonly saved6?: readonly string[];
}

export const HAND_RECIPES: readonly HandRecipe[] = [
  {
    name: "seed 000: whitelist ipset, 80/443, log and drop",
    ipset: "create whitelist hash:ip family inet\nadd whitelist 198.51.100.7\nadd whitelist 198.51.100.8\n",
    ipv4: [
      "-A DOCKER-USER -m set --match-set whitelist src -j RETURN",
      "-A DOCKER-USER -p tcp -m tcp --dport 80 -j RETURN",
      "-A DOCKER-USER -p tcp -m tcp --dport 443 -j RETURN",
      '-A DOCKER-USER -m limit --limit 2/min -j LOG --log-prefix "IPTables DOCKER-USER dropped: " --log-level 4',
      "-A DOCKER-USER -j DROP",
    ],
    saved4: [
      "-A DOCKER-USER -m set --match-set whitelist src -j RETURN",
      "-A DOCKER-USER -p tcp -m tcp --dport 80 -j RETURN",
      "-A DOCKER-USER -p tcp -m tcp --dport 443 -j RETURN",
      // The kernel keeps 29 characters of a log prefix: the article's trailing space is gone.
      '-A DOCKER-USER -m limit --limit 2/min -j LOG --log-prefix "IPTables DOCKER-USER dropped:"',
      "-A DOCKER-USER -j DROP",
    ],
  },
  {
    name: "seed 001: one address to a published port, the Docker subnet, drop the rest of that port",
    ipv4: [
      "-A DOCKER-USER -s 203.0.113.5/32 -p tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j ACCEPT",
      "-A DOCKER-USER -s 172.17.0.0/16 -j ACCEPT",
      "-A DOCKER-USER -p tcp -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
      "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j DROP",
    ],
    saved4: [
      "-A DOCKER-USER -s 203.0.113.5/32 -p tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j ACCEPT",
      "-A DOCKER-USER -s 172.17.0.0/16 -j ACCEPT",
      "-A DOCKER-USER -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j DROP",
    ],
  },
  {
    name: "seed 003: port 8080 for one address on eth0, everything else on ext_if except one address",
    ipv4: [
      "-A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP",
      "-A DOCKER-USER -i eth0 -s 192.168.0.1 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j ACCEPT",
      "-A DOCKER-USER -i ext_if ! -s 192.168.0.1 -j DROP",
    ],
    saved4: [
      "-A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP",
      "-A DOCKER-USER -s 192.168.0.1/32 -i eth0 -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j ACCEPT",
      "-A DOCKER-USER ! -s 192.168.0.1/32 -i ext_if -j DROP",
    ],
  },
  {
    name: "seed 004: filtering container traffic (WAN eth0), in both families",
    ipv4: [
      "-A DOCKER-USER -i eth0 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -s 10.11.11.0/24 -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -s 10.22.22.0/24 -j RETURN",
      "-A DOCKER-USER -i eth0 -j DROP",
    ],
    ipv6: [
      "-A DOCKER-USER -i eth0 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -i eth0 -j DROP",
    ],
    saved4: [
      "-A DOCKER-USER -i eth0 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -s 10.11.11.0/24 -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -s 10.22.22.0/24 -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -i eth0 -j DROP",
    ],
    saved6: [
      "-A DOCKER-USER -i eth0 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 80 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -i eth0 -p tcp -m tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN",
      "-A DOCKER-USER -i eth0 -j DROP",
    ],
  },
];
