// The minimal structural shape of an AccessPolicy the engine reads. Deliberately
// wide (every field optional, enums as string, arrays readonly) so the types
// generated from crds/*.yaml (core/resources/generated.ts) are assignable to it;
// the engine validates values itself when it compiles a policy.

export interface LabelSelectorRequirementLike {
  readonly key: string;
  readonly operator: string; // In | NotIn | Exists | DoesNotExist
  readonly values?: readonly string[] | undefined;
}

export interface LabelSelectorLike {
  readonly matchLabels?: { readonly [key: string]: string } | undefined;
  readonly matchExpressions?: readonly LabelSelectorRequirementLike[] | undefined;
}

export interface ServiceAccountSubjectLike {
  readonly name: string;
  readonly namespace?: string | undefined;
}

export interface OidcSubjectLike {
  readonly issuer: string;
  readonly audience?: string | undefined;
  readonly groupsClaim?: string | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly users?: readonly string[] | undefined;
}

export interface SubjectLike {
  readonly serviceAccount?: ServiceAccountSubjectLike | undefined;
  readonly oidc?: OidcSubjectLike | undefined;
}

export interface RuleLike {
  readonly name: string;
  readonly when: string;
  readonly action: string; // allow | deny | review
  readonly message?: string | undefined;
}

export interface SecretKeyRefLike {
  readonly name: string;
  readonly key?: string | undefined;
}

export interface MaskColumnLike {
  readonly table: string;
  readonly column: string;
  readonly strategy?: string | undefined; // redact (default) | partial | hash | null
  readonly keep?: number | undefined;
}

export interface MaskJsonFieldLike {
  readonly path: string;
  readonly strategy?: string | undefined;
  readonly keep?: number | undefined;
}

export interface MaskDetectorLike {
  readonly type: string; // pan | ssn | email | phone | iban | jwt | cloudKey | privateKey | custom
  readonly pattern?: string | undefined;
  readonly strategy?: string | undefined;
  readonly keep?: number | undefined;
}

export interface MaskingSpecLike {
  readonly columns?: readonly MaskColumnLike[] | undefined;
  readonly jsonFields?: readonly MaskJsonFieldLike[] | undefined;
  readonly detectors?: readonly MaskDetectorLike[] | undefined;
  readonly hashKeySecretRef?: SecretKeyRefLike | undefined;
}

export interface ApprovalSpecLike {
  readonly approvers?:
    | { readonly groups?: readonly string[] | undefined; readonly users?: readonly string[] | undefined }
    | undefined;
  readonly required?: number | undefined;
  readonly timeout?: string | undefined;
  readonly scope?: string | undefined; // once | grant
  readonly grantDuration?: string | undefined;
}

export interface SessionSpecLike {
  readonly maxDuration?: string | undefined;
  readonly idleTimeout?: string | undefined;
  readonly recording?: boolean | undefined;
  readonly strictRecording?: boolean | undefined;
}

export interface AccessPolicySpecLike {
  readonly podSelector?: LabelSelectorLike | undefined;
  readonly subjects?: readonly SubjectLike[] | undefined;
  readonly connections?: readonly string[] | undefined;
  readonly rules?: readonly RuleLike[] | undefined;
  readonly masking?: MaskingSpecLike | undefined;
  readonly approval?: ApprovalSpecLike | undefined;
  readonly session?: SessionSpecLike | undefined;
}

export interface AccessPolicyLike {
  readonly metadata?: { readonly name?: string | undefined; readonly namespace?: string | undefined } | undefined;
  readonly spec?: AccessPolicySpecLike | undefined;
}
