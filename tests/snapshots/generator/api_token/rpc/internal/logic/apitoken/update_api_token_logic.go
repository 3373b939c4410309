package apitoken

import (
	"context"

	"github.com/suyuan32/simple-admin-common/i18n"
	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-common/utils/uuidx"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type UpdateApiTokenLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewUpdateApiTokenLogic(ctx context.Context, svcCtx *svc.ServiceContext) *UpdateApiTokenLogic {
	return &UpdateApiTokenLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *UpdateApiTokenLogic) UpdateApiToken(in *core.ApiTokenInfo) (*core.BaseResp, error) {
	err := l.svcCtx.DB.ApiToken.UpdateOneID(uuidx.ParseUUIDString(*in.Id)).
		SetNotNilStatus(pointy.GetStatusPointer(in.Status)).
		SetNotNilToken(in.Token).
		SetNotNilExpiresAt(pointy.GetTimeMilliPointer(in.ExpiresAt)).
		SetNotNilOwnerUUID(uuidx.ParseUUIDStringToPointer(in.OwnerUuid)).
		Exec(l.ctx)

	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	return &core.BaseResp{Msg: i18n.UpdateSuccess}, nil
}
