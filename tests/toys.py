"""Test fixtures of the trainer: a tiny conv autoencoder task on smooth random images (used by tests/test_trainer.py,
test_resume.py, test_ddp.py and shown in nbs/10_trainer.ipynb as the template of a real task)."""
import time
import torch, torch.nn as nn, torch.nn.functional as F
from dcae_nb.trainer import TrainTask
from dcae_nb.train_parts import warmup_lr


class RandomImages(torch.utils.data.Dataset):
    "Smooth random images in [-1, 1]; item i depends only on (seed, i)."
    def __init__(self, n:int=64, res:int=16, seed:int=0): self.n, self.res, self.seed = n, res, seed
    def __len__(self): return self.n
    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(i))
        low = torch.rand(3, 4, 4, generator=g) * 2 - 1                         # colour blobs
        img = F.interpolate(low[None], size=self.res, mode='bilinear', align_corners=False)[0]
        return (img + 0.1 * torch.randn(3, self.res, self.res, generator=g)).clamp(-1, 1)  # (3, res, res)


class ToyAutoencoder(nn.Module):
    "conv(3→w, stride 2) → BN → ReLU → dropout → conv(w→c) | conv(c→w) → BN → ReLU → upsample → conv(w→3)."
    def __init__(self, width:int=8, latent:int=4, dropout:float=0., bn:bool=True):
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(width)) if bn else nn.Identity
        self.encoder = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), norm(), nn.ReLU(), nn.Dropout(dropout),
                                     nn.Conv2d(width, latent, 1))
        self.decoder = nn.Sequential(nn.Conv2d(latent, width, 3, 1, 1), norm(), nn.ReLU(),
                                     nn.Upsample(scale_factor=2), nn.Conv2d(width, 3, 3, 1, 1))
    def forward(self, x):  # x: (N, 3, H, W)
        return self.decoder(self.encoder(x))  # (N, 3, H, W); latent (N, latent, H/2, W/2)


class ToyAutoencoderTask(TrainTask):
    "A complete TrainTask in miniature: autoencoder + optional discriminator, frozen parts, evaluation."
    def __init__(self, n:int=64, res:int=16, width:int=8, lr:float=1e-2, wd:float=0.1, dropout:float=0., bn:bool=True,
                 gan:bool=False, freeze:tuple=(), warmup:int=2, schedule:str='cosine', data_seed:int=0, sleep:float=0.,
                 nan_at:int|None=None):
        self.hp = dict(n=n, res=res, width=width, lr=lr, wd=wd, dropout=dropout, bn=bn, gan=gan, freeze=list(freeze),
                       warmup=warmup, schedule=schedule, data_seed=data_seed)
        self.sleep, self.nan_at = sleep, nan_at  # test hooks (slow the run down; inject a NaN): not part of the config
    def config_dict(self): return self.hp
    def build(self):
        h = self.hp
        self.model = ToyAutoencoder(h['width'], dropout=h['dropout'], bn=h['bn'])
        for name, p in self.model.named_parameters():                # the task decides what trains
            if any(name.startswith(f) for f in h['freeze']): p.requires_grad_(False)
        self.disc = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3, 1, 1)) if h['gan'] else None
    def modules(self): return {'model': self.model, **({'disc': self.disc} if self.disc is not None else {})}
    def optimizers(self, cfg):
        h = self.hp
        def make(params, betas):
            opt = torch.optim.AdamW([p for p in params if p.requires_grad], lr=h['lr'], weight_decay=h['wd'], betas=betas)
            return opt, warmup_lr(opt, h['warmup'], cfg.steps, h['schedule'])
        return {'gen': make(self.model.parameters(), (0.9, 0.999)),
                **({'disc': make(self.disc.parameters(), (0.5, 0.9))} if self.disc is not None else {})}
    def dataset(self): return RandomImages(self.hp['n'], self.hp['res'], self.hp['data_seed'])
    def training_step(self, x, step, ctx):
        if self.sleep: time.sleep(self.sleep)
        recon = self.model(x)
        rec = (recon - x).abs().mean()
        if self.nan_at is not None and step >= self.nan_at: rec = rec * float('nan')
        if self.disc is None:
            ctx.backward(rec, 'gen'); ctx.step('gen')
            return {'loss': rec}
        g = -self.disc(recon).mean()                                   # hinge generator loss
        ctx.backward(rec + 0.1 * g, 'gen'); ctx.step('gen')
        d = 0.5 * (F.relu(1 - self.disc(x)).mean() + F.relu(1 + self.disc(recon.detach())).mean())
        ctx.backward(d, 'disc'); ctx.step('disc')
        return {'loss': rec, 'g_loss': g, 'd_loss': d}
    def evaluate(self, model, step):
        x = torch.stack([RandomImages(16, self.hp['res'], seed=self.hp['data_seed'] + 1)[i] for i in range(16)])
        x = x.to(next(model.parameters()).device)
        return {'val_l1': (model(x) - x).abs().mean().item()}
