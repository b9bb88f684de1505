// Least-squares fits for `npm run bench -- hosts` (pure): does time follow
// round trips × RTT + CPU?

export interface Point {
  x: number;
  y: number;
}

/** y ≈ slope·x + intercept, with the residual of each point and R². */
export function linearFit(points: Point[]): {
  slope: number;
  intercept: number;
  residuals: number[];
  r2: number;
} {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const intercept = my - slope * mx;
  const residuals = points.map((p) => p.y - (slope * p.x + intercept));
  return { slope, intercept, residuals, r2: rSquared(points, residuals, my) };
}

/** y ≈ slope·x (through the origin): the factor by which measured delay exceeds prediction. */
export function proportionalFit(points: Point[]): {
  slope: number;
  residuals: number[];
  r2: number;
} {
  const sxx = points.reduce((s, p) => s + p.x * p.x, 0);
  const sxy = points.reduce((s, p) => s + p.x * p.y, 0);
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const residuals = points.map((p) => p.y - slope * p.x);
  const my = points.reduce((s, p) => s + p.y, 0) / points.length;
  return { slope, residuals, r2: rSquared(points, residuals, my) };
}

function rSquared(points: Point[], residuals: number[], my: number): number {
  const total = points.reduce((s, p) => s + (p.y - my) ** 2, 0);
  const left = residuals.reduce((s, r) => s + r * r, 0);
  return total === 0 ? 1 : 1 - left / total;
}
