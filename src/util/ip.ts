/**
 * IP allowlist matching for IPv4 and IPv6 addresses and CIDR ranges, on 128-bit
 * integers (IPv4 is mapped into ::ffff:0:0/96 so one comparison serves both).
 */

function parseV4(s: string): bigint | undefined {
	const parts = s.split(".");
	if (parts.length !== 4) return undefined;
	let n = 0n;
	for (const p of parts) {
		if (!/^\d{1,3}$/.test(p)) return undefined;
		const v = Number(p);
		if (v > 255) return undefined;
		n = (n << 8n) | BigInt(v);
	}
	return n;
}

function parseV6(s: string): bigint | undefined {
	let text = s;
	if (text.includes(".")) {
		// An embedded IPv4 tail (::ffff:192.0.2.1) becomes its two hex groups.
		const lastColon = text.lastIndexOf(":");
		const v4 = parseV4(text.slice(lastColon + 1));
		if (v4 === undefined) return undefined;
		text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
	}
	const halves = text.split("::");
	if (halves.length > 2) return undefined;
	const head = halves[0] ? halves[0].split(":") : [];
	const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
	const missing = 8 - head.length - rest.length;
	if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
	const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
	let n = 0n;
	for (const g of groups) {
		if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
		n = (n << 16n) | BigInt(parseInt(g, 16));
	}
	return n;
}

const V4_MAPPED = 0xffffn << 32n;

/** An address as a 128-bit integer, or undefined if it is not an IP address. */
export function parseIp(s: string): bigint | undefined {
	if (s.includes(":")) return parseV6(s);
	const v4 = parseV4(s);
	return v4 === undefined ? undefined : V4_MAPPED | v4;
}

/**
 * The unit a throttle counts an address in: an IPv4 address as it is, an IPv6 address by its
 * /64, which one subscriber is routinely given whole (a probe sprayed 30 addresses of one
 * /64 past a budget of 3). Anything else is counted as given.
 */
export function throttleUnit(ip: string): string {
	if (!ip.includes(":")) return ip;
	const n = parseV6(ip);
	if (n === undefined) return ip;
	// An IPv4 client written as IPv6 (::ffff:192.0.2.1) is that IPv4 address, not one /64 shared by every IPv4 client.
	if (n >> 32n === 0xffffn) return [24n, 16n, 8n, 0n].map((shift) => String((n >> shift) & 0xffn)).join(".");
	const prefix = (n >> 64n).toString(16).padStart(16, "0");
	return `${prefix.match(/.{4}/g)!.join(":")}::/64`;
}

export interface Cidr {
	base: bigint;
	bits: number; // prefix length in the 128-bit space
}

export function parseCidr(s: string): Cidr | undefined {
	const [addr, len, extra] = s.split("/");
	if (extra !== undefined || addr === undefined) return undefined;
	const base = parseIp(addr);
	if (base === undefined) return undefined;
	const max = addr.includes(":") ? 128 : 32;
	const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
	if (!(prefix >= 0 && prefix <= max)) return undefined;
	const bits = prefix + (128 - max);
	return { base: mask(base, bits), bits };
}

function mask(n: bigint, bits: number): bigint {
	const shift = BigInt(128 - bits);
	return (n >> shift) << shift;
}

export function ipAllowed(ip: string | undefined, allowlist: readonly string[]): boolean {
	if (!ip) return false;
	const addr = parseIp(ip.trim());
	if (addr === undefined) return false;
	for (const entry of allowlist) {
		const cidr = parseCidr(entry);
		if (cidr && mask(addr, cidr.bits) === cidr.base) return true;
	}
	return false;
}
