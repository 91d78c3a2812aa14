// Engine.Ova: streaming OVA (tar + OVF + VMDK) reading and conversion.
