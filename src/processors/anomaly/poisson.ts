/** P(X ≥ k) for X ~ Poisson(λ), summed in log space so large counts do not underflow to a wrong answer. */
export function poissonTail(k: number, lambda: number): number {
  if (k <= 0) return 1;
  if (lambda <= 0) return 0;
  // Sum the upper tail directly from k: terms fall fast once i > λ.
  let logTerm = -lambda + k * Math.log(lambda) - logFactorial(k);
  let sum = 0;
  for (let i = k; i < k + 1000; i++) {
    const term = Math.exp(logTerm);
    sum += term;
    if (i > lambda && term < sum * 1e-12) break;
    logTerm += Math.log(lambda) - Math.log(i + 1);
  }
  return Math.min(1, sum);
}

const cache: number[] = [0];
function logFactorial(n: number): number {
  if (n < 256) {
    while (cache.length <= n) cache.push(cache[cache.length - 1] + Math.log(cache.length));
    return cache[n];
  }
  // Stirling with the first correction terms.
  return n * Math.log(n) - n + 0.5 * Math.log(2 * Math.PI * n) + 1 / (12 * n) - 1 / (360 * n ** 3);
}
