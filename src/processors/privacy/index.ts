import { defineProcessor } from '../../component/types.js';
import { compilePattern } from '../../util/match.js';
import { privacyConfigSchema, type PrivacyConfig } from './config.js';
import { privacyOperator, Redactor } from './privacy.js';

export const privacyProcessor = defineProcessor<PrivacyConfig>({
  type: 'privacy',
  kind: 'processor',
  description: 'Masks, hashes or drops secrets (emails, cards, tokens, passwords and distribution cookies in rendered terms, the arguments of functions that take secrets), sanitizes SQL and URLs, and cuts rendered terms to size',
  stability: 'alpha',
  mutatesData: true,
  configSchema: privacyConfigSchema,
  validate: (config) => {
    const errors: string[] = [];
    for (const [i, rule] of config.blocked_values.entries()) {
      const pattern = typeof rule === 'string' ? rule : rule.pattern;
      try {
        new RegExp(pattern);
      } catch (error) {
        errors.push(`blocked_values[${i}]: invalid regular expression: ${(error as Error).message}`);
      }
    }
    for (const [i, secret] of (config.secrets ?? []).entries()) {
      const text = String(secret);
      if (text.length > 0 && text.length < 4) errors.push(`secrets[${i}]: a secret shorter than 4 characters would mask ordinary text`);
    }
    for (const [i, pattern] of (config.secret_functions ?? []).entries()) {
      try {
        compilePattern(pattern);
      } catch (error) {
        errors.push(`secret_functions[${i}]: ${(error as Error).message}`);
      }
    }
    return errors;
  },
  create: (config, ctx) => {
    const redactions = ctx.meter.createCounter('scope_privacy_redactions', {
      unit: '{value}', description: 'Values the privacy processor masked, hashed, dropped, sanitized or cut, by reason (detector or rule).',
    });
    return {
      operator: privacyOperator(new Redactor(config), (counts) => {
        for (const [reason, n] of counts) redactions.add(n, { processor: ctx.id, reason });
      }),
    };
  },
});
