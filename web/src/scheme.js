/**
 * The record layout, as protocol/encoding.py's Scheme defines it.
 *
 * A survey declares genders, optional job categories and, per banded value, band lower edges
 * ``0 = e_0 < e_1 < ... < e_{B-1} <= top``.  A cell is a (gender, job) pair, K = genders x
 * max(1, jobs) cells, gender-major.  A one-figure survey has one value (the salary); a complete
 * survey has the pay level T = basic + variable, the variable pay V (band 0 is exactly {0}) and,
 * with hours h (hundredths), the hourly level Y = floor(T * 10^4 / h).  Per value, in that order:
 *
 *     H[c', b']  one-hot: 1 at (c, b)                                 (K*B)
 *     P[c']      the value on cell c, else 0                          (K)
 *     Q[c']      its square on cell c, else 0                         (K)
 *
 * then every value's offset bits d1, d2 (L each: the value's distance above its band's lower
 * edge and below its top), the bits u of T - V (basic pay >= 0, with variable pay) and, with
 * hours, the bits of R = T * 10^4 mod h and of h - 1 - R.  The validity proof follows (proof.js).
 */

/** The values a record holds, in record order. */
export const ValueKind = Object.freeze({ LEVEL: "level", VARIABLE: "variable", HOURLY: "hourly" });
/** @typedef {"level" | "variable" | "hourly"} ValueKindName */

/** What a complete survey collects (the manifest's ``components``). */
export const Component = Object.freeze({ BASIC: "basic", VARIABLE: "variable", HOURS: "hours" });
/** The pay period of a complete survey (the manifest's ``pay_period``). */
export const PayPeriod = Object.freeze({ ANNUAL: "annual", MONTHLY: "monthly" });

/** Y = floor(T * HOURLY_SCALE / h): T whole units, h hundredths of an hour, Y hundredths of the unit. */
export const HOURLY_SCALE = 10000n;
/** Hours are answered to the hundredth. */
export const HOURS_SCALE = 100n;
/** The manifest's hours bound, whole hours per period, at most this. */
export const MAX_HOURS = 100000;

/** @param {bigint} v non-negative */
export function bitLength(v) {
  return v === 0n ? 0 : v.toString(2).length;
}

/** One value's bands: lower edges ``0 = e_0 < e_1 < ...`` and its bound ``top``. */
export class Banding {
  /**
   * @param {readonly bigint[]} edges
   * @param {bigint} top
   */
  constructor(edges, top) {
    this.edges = Object.freeze([...edges]);
    this.top = top;
    this.B = this.edges.length;
    /** Bits of each in-band offset (d1 and d2). */
    this.bits = Math.max(1, ...this.edges.map((_, b) => bitLength(this.bandWidth(b))));
    Object.freeze(this);
  }

  /**
   * Banding.of of protocol/encoding.py: RangeError with its message unless ``bands`` are
   * strictly increasing, above 0 and at most ``top``.
   * @param {bigint | number} top
   * @param {readonly (bigint | number)[]} bands
   * @param {string} [what]
   */
  static of(top, bands, what = "salary") {
    const max = BigInt(top);
    const b = bands.map(BigInt);
    if (b.some((x, i) => x <= 0n || x > max || (i > 0 && b[i - 1] >= x))) {
      throw new RangeError(`${what} bands must be strictly increasing, above 0 and at most the ${what} bound`);
    }
    return new Banding([0n, ...b], max);
  }

  /** @param {number} b */
  bandHi(b) {
    return b + 1 < this.B ? this.edges[b + 1] - 1n : this.top;
  }

  /** @param {number} b */
  bandWidth(b) {
    return this.bandHi(b) - this.edges[b];
  }

  /**
   * The band holding ``value`` (in [0, top]).
   * @param {bigint} value
   */
  bandOf(value) {
    let lo = 0;
    let hi = this.B - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.edges[mid] <= value) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/**
 * Where one value sits in the record.
 * @typedef {Readonly<{kind: ValueKindName, banding: Banding, B: number, bits: number, histAt: number,
 *   prodAt: number, sqAt: number, d1At: number, d2At: number}>} ValueBlock
 */

/**
 * The options of a complete survey's values (all 0 / empty: a one-figure survey).
 * @typedef {{variableMax?: bigint | number, variableBands?: readonly (bigint | number)[],
 *   hoursMax?: number, hourlyMax?: bigint | number, hourlyBands?: readonly (bigint | number)[]}} ValueOptions
 */

/** Everything the record layout depends on.  Build with {@link Scheme.of} or {@link Scheme.fromManifest}. */
export class Scheme {
  /**
   * @param {readonly string[]} genders
   * @param {readonly string[]} jobs
   * @param {Banding} level the pay level T (the one-figure survey's salary)
   * @param {Banding | null} [variable]
   * @param {number} [hoursMax] whole hours, 0 = not collected
   * @param {Banding | null} [hourly]
   */
  constructor(genders, jobs, level, variable = null, hoursMax = 0, hourly = null) {
    this.genders = Object.freeze([...genders]);
    this.jobs = Object.freeze([...jobs]);
    this.level = level;
    this.variable = variable;
    this.hoursMax = hoursMax;
    this.hourly = hourly;
    this.edges = level.edges;
    this.salaryMax = level.top;
    this.G = this.genders.length;
    /** Job columns: 1 when the survey declares no job categories. */
    this.J = Math.max(1, this.jobs.length);
    this.K = this.G * this.J;
    /** @type {[ValueKindName, Banding][]} */
    const kinds = [[ValueKind.LEVEL, level]];
    if (variable) kinds.push([ValueKind.VARIABLE, variable]);
    if (hourly) kinds.push([ValueKind.HOURLY, hourly]);
    const K = this.K;
    let at = 0;
    let bitsAt = kinds.reduce((acc, [, bd]) => acc + K * bd.B + 2 * K, 0);
    /** The banded values in record order (T, then V and Y when collected). @type {readonly ValueBlock[]} */
    this.values = Object.freeze(kinds.map(([kind, bd]) => {
      const v = Object.freeze({ kind, banding: bd, B: bd.B, bits: bd.bits, histAt: at, prodAt: at + K * bd.B,
        sqAt: at + K * bd.B + K, d1At: bitsAt, d2At: bitsAt + bd.bits });
      at += K * bd.B + 2 * K;
      bitsAt += 2 * bd.bits;
      return v;
    }));
    /** More than the one figure: variable pay or hours. */
    this.complete = this.values.length > 1;
    const t = this.values[0];
    this.B = t.B;
    /** L: bits of each in-band offset of T (d1 and d2). */
    this.bits = t.bits;
    this.prodAt = t.prodAt;
    this.sqAt = t.sqAt;
    /** The leading entries that are summed: every value's histogram, sums and sums of squares. */
    this.aggregateWidth = at;
    this.d1At = t.d1At;
    this.d2At = t.d2At;
    /** u: the bits of T - V (basic pay in [0, salary bound]), with variable pay. */
    this.basicBitsAt = bitsAt;
    this.basicBits = variable ? bitLength(this.salaryMax) : 0;
    /** L_h: bits of R and of h - 1 - R, with hours. */
    this.hoursBits = hoursMax ? bitLength(BigInt(hoursMax) * HOURS_SCALE) : 0;
    this.remainderAt = this.basicBitsAt + this.basicBits;
    this.slackAt = this.remainderAt + this.hoursBits;
    this.recordWidth = this.slackAt + this.hoursBits;
    /** G: every bit of the record. */
    this.totalBits = this.recordWidth - this.aggregateWidth;
    /** Cells x bands over every value (the manifest's limit). */
    this.cellBands = this.values.reduce((acc, v) => acc + K * v.B, 0);
    /** The proof's Beaver triples: one-hot and products per value, and the hourly relation. */
    this.triples = 2 * this.values.length + (hourly ? 1 : 0);
    /** Field elements a contributor shares: the record, then its validity proof. */
    this.vectorLength = this.recordWidth + 1 + 3 * this.triples + 2 + 2 * this.totalBits;
    Object.freeze(this);
  }

  /**
   * ``bands`` are the pay level's band boundaries above 0 (the manifest's ``salary_bands``); a
   * ``variableMax`` above 0 collects variable pay (``variableBands`` above 1), an ``hoursMax``
   * above 0 collects hours and the hourly level.  RangeError with protocol/encoding.py's message
   * for bands or bounds it refuses.
   * @param {readonly string[]} genders
   * @param {bigint | number} salaryMax
   * @param {readonly string[]} [jobs]
   * @param {readonly (bigint | number)[]} [bands]
   * @param {ValueOptions} [more]
   */
  static of(genders, salaryMax, jobs = [], bands = [], more = {}) {
    const level = Banding.of(salaryMax, bands);
    let variable = null;
    if (BigInt(more.variableMax ?? 0)) {
      const vb = (more.variableBands ?? []).map(BigInt);
      if (vb.some((x) => x <= 1n)) throw new RangeError("variable pay bands must be above 1 (band 0 is exactly 'no variable pay')");
      variable = Banding.of(BigInt(more.variableMax ?? 0), [1n, ...vb], "variable pay");
    }
    let hourly = null;
    const hoursMax = more.hoursMax ?? 0;
    if (hoursMax) {
      if (!(hoursMax > 0 && hoursMax <= MAX_HOURS) || BigInt(more.hourlyMax ?? 0) <= 0n) {
        throw new RangeError(`hours bound must be 1 to ${MAX_HOURS} and the hourly pay bound above 0`);
      }
      hourly = Banding.of(BigInt(more.hourlyMax ?? 0), more.hourlyBands ?? [], "hourly pay");
    }
    return new Scheme(genders, jobs, level, variable, hoursMax, hourly);
  }

  /**
   * The layout a manifest's submissions use (the manifest checked it when it was parsed).
   * @param {{categories: readonly string[], salaryMax: number, jobCategories: readonly string[],
   *   salaryBands: readonly number[], components?: readonly string[], variableMax?: number,
   *   variableBands?: readonly number[], hoursMax?: number, hourlyMax?: number, hourlyBands?: readonly number[]}} m
   */
  static fromManifest(m) {
    const has = (/** @type {string} */ c) => (m.components ?? []).includes(c);
    return Scheme.of(m.categories, m.salaryMax, m.jobCategories, m.salaryBands, {
      variableMax: has(Component.VARIABLE) ? m.variableMax : 0, variableBands: m.variableBands ?? [],
      hoursMax: has(Component.HOURS) ? m.hoursMax : 0, hourlyMax: m.hourlyMax ?? 0, hourlyBands: m.hourlyBands ?? [],
    });
  }

  /**
   * @param {number} g
   * @param {number} j
   */
  cell(g, j) {
    return g * this.J + j;
  }

  /** @param {number} b */
  bandHi(b) {
    return this.level.bandHi(b);
  }

  /** @param {number} b */
  bandWidth(b) {
    return this.level.bandWidth(b);
  }

  /** @param {bigint} salary */
  bandOf(salary) {
    return this.level.bandOf(salary);
  }

  /**
   * The block of one value, or undefined when the survey does not collect it.
   * @param {ValueKindName} kind
   */
  value(kind) {
    return this.values.find((v) => v.kind === kind);
  }
}
