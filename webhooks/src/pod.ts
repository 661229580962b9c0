import { z } from "zod";

/**
 * The parts of a core/v1 Pod that identity injection reads. Everything else passes through
 * untouched (loose objects), and null, which Kubernetes' JSON may carry for empty fields, reads as
 * absent.
 */
const stringMap = z.record(z.string(), z.string()).nullish();

const envVarSchema = z.looseObject({ name: z.string() });
const volumeMountSchema = z.looseObject({ name: z.string(), mountPath: z.string() });

export const containerSchema = z.looseObject({
  name: z.string(),
  image: z.string().nullish(),
  command: z.array(z.string()).nullish(),
  args: z.array(z.string()).nullish(),
  env: z.array(envVarSchema).nullish(),
  volumeMounts: z.array(volumeMountSchema).nullish(),
});

export const volumeSchema = z.looseObject({
  name: z.string(),
  secret: z.looseObject({ secretName: z.string().nullish() }).nullish(),
});

export const podSchema = z.looseObject({
  metadata: z
    .looseObject({
      name: z.string().nullish(),
      generateName: z.string().nullish(),
      labels: stringMap,
      annotations: stringMap,
    })
    .nullish(),
  spec: z.looseObject({
    serviceAccountName: z.string().nullish(),
    serviceAccount: z.string().nullish(),
    containers: z.array(containerSchema),
    initContainers: z.array(containerSchema).nullish(),
    volumes: z.array(volumeSchema).nullish(),
    securityContext: z.looseObject({ fsGroup: z.number().nullish() }).nullish(),
    automountServiceAccountToken: z.boolean().nullish(),
  }),
});

export type PodLike = z.infer<typeof podSchema>;
export type ContainerLike = z.infer<typeof containerSchema>;
export type VolumeLike = z.infer<typeof volumeSchema>;
