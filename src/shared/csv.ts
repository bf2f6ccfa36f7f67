/** CSV as RFC 4180 writes it (CRLF line ends, fields quoted when needed), safe to open in a spreadsheet. */

/** One RFC 4180 field: quoted when it holds a comma, quote or line break. */
export function csvField(value: string | null | undefined): string {
  const text = value ?? '';
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Free text a spreadsheet would run as a formula is prefixed with an apostrophe (OWASP CSV injection). */
export const csvText = (value: string | null | undefined) => csvField(value && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value);
