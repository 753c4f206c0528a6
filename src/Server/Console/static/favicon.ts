/** The console's icon: three linked nodes, as SVG (served hashed like the other files; CSP allows 'self' images). */
export const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2557d6"/><path d="M9 22 16 9l7 13z" fill="none" stroke="#fff" stroke-width="2"/><circle cx="16" cy="9" r="3.5" fill="#fff"/><circle cx="9" cy="22" r="3.5" fill="#fff"/><circle cx="23" cy="22" r="3.5" fill="#fff"/></svg>
`
